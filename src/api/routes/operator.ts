import { isGrpcServiceError, WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { temporal } from '@temporalio/proto';
import { Router } from 'express';
import { randomUUID } from 'node:crypto';
import { setTimeout } from 'node:timers/promises';
import { z } from 'zod';
import type { Config } from '../../config';
import type { Db } from '../../db/client';
import type { Run } from '../../generated/prisma/client';
import {
  AuditEventView,
  OperatorActionResponse,
  OptionalReasonRequest,
  ResumeRequestBody,
  TerminateRequest,
  type OperatorAction,
} from '../../schemas/operator';
import { RunIdParams } from '../../schemas/runs';
import { resumeRunUpdate, ResumeRejection, TERMINAL_STATUSES, type RunStatus } from '../../shared';
import { requireAuth, type AuthContext } from '../auth';
import { runLinks, runOperationLinks } from '../links';
import { HttpProblem, problems } from '../problem';
import { findResetPoint } from '../reset-point';
import { defineRoute } from '../define-route';

export interface OperatorDeps {
  db: Db;
  temporal: Client;
  config: Config;
}

const AuditList = z.object({ data: z.array(AuditEventView) });

const actionExample = {
  id: '0193a0f2-7c1e-7d3a-9b1e-2f4c5d6e7f80',
  workflowRunId: '5b1f0c7e-1a2b-4c3d-8e9f-0a1b2c3d4e5f',
  auditEventId: '8d1c2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f',
  links: { self: '/v1/runs/0193a0f2-7c1e-7d3a-9b1e-2f4c5d6e7f80', temporalUi: 'http://localhost:8233/namespaces/default/workflows/0193a0f2-7c1e-7d3a-9b1e-2f4c5d6e7f80' },
};

const GRPC_NOT_FOUND = 5;
const CLOSING_GRACE_MS = 5_000;

function conflict(slug: string, detail: string, runStatus?: string): HttpProblem {
  return new HttpProblem(409, slug, 'Conflict', detail, runStatus ? { runStatus } : {});
}

/** Temporal says "not found" both for unknown workflows and for ones that already closed. */
function isGone(err: unknown): boolean {
  return err instanceof WorkflowNotFoundError || (isGrpcServiceError(err) && Number(err.code) === GRPC_NOT_FOUND);
}

/**
 * Operator actions on runs: cancel, terminate, retry (reset to the failed step) and resume (a
 * run paused on failure). Each accepted action is written to the append-only audit trail, and
 * who and why also reach the run's Temporal history (identity and reason on the request).
 * Every route here needs the `operator` scope.
 */
export function operatorRouter(deps: OperatorDeps): Router {
  const { db, temporal, config } = deps;
  const namespace = temporal.options.namespace;
  const router = Router();

  const findRun = async (tenantId: string, id: string): Promise<Run> => {
    const run = await db.run.findFirst({ where: { id, tenantId } });
    if (!run) throw problems.notFound(`Run ${id}`);
    return run;
  };
  const actorOf = (auth: AuthContext) => `key:${auth.keyId}`;
  const identityOf = (auth: AuthContext) => `keel-api ${actorOf(auth)}`;
  const audit = async (auth: AuthContext, run: Run, action: OperatorAction, reason: string | undefined, details: Record<string, string | number>) => {
    const row = await db.auditEvent.create({
      data: { id: randomUUID(), tenantId: auth.tenantId, runId: run.id, action, actor: actorOf(auth), reason: reason ?? null, details },
    });
    return row.id;
  };
  const respond = (run: Run, action: OperatorAction, status: RunStatus, workflowRunId: string | null, auditEventId: string): OperatorActionResponse => ({
    id: run.id,
    action,
    status,
    workflowRunId,
    auditEventId,
    links: runLinks(config, run.id),
  });
  const requireActive = (run: Run, action: string) => {
    if (TERMINAL_STATUSES.includes(run.status as RunStatus)) {
      throw conflict('run-not-active', `Run ${run.id} is ${run.status}; only a run in progress can be ${action}.`, run.status);
    }
  };

  defineRoute(
    router,
    {
      method: 'post', path: '/v1/runs/:id/cancel', tags: ['operator'], scope: 'operator',
      summary: 'Cancel a run',
      description: 'Graceful: the workflow records `cancelled` after its cleanup and the in-flight model call is aborted. `409 run-not-active` for a finished run.',
      params: RunIdParams, body: OptionalReasonRequest, bodyExample: { reason: 'wrong question' },
      responses: { 202: { description: 'Cancellation requested.', schema: OperatorActionResponse, example: { ...actionExample, action: 'cancel', status: 'running' }, links: runOperationLinks('/id') } },
      problems: [409],
    },
    async (req, res, { params, body }) => {
      const auth = requireAuth(req);
      const run = await findRun(auth.tenantId, params.id);
      requireActive(run, 'cancelled');
      try {
        await temporal.workflowService.requestCancelWorkflowExecution({
          namespace,
          workflowExecution: { workflowId: run.id },
          identity: identityOf(auth),
          requestId: randomUUID(),
          reason: body.reason ?? 'cancelled by operator',
        });
      } catch (err) {
        if (isGone(err)) throw conflict('run-not-active', `Run ${run.id} has already finished.`);
        throw err;
      }
      const auditEventId = await audit(auth, run, 'cancel', body.reason, {});
      // Cancellation is cooperative: the workflow records `cancelled` once its cleanup has run.
      res.status(202).json(respond(run, 'cancel', run.status as RunStatus, run.workflowRunId, auditEventId));
    },
  );

  defineRoute(
    router,
    {
      method: 'post', path: '/v1/runs/:id/terminate', tags: ['operator'], scope: 'operator',
      summary: 'Terminate a run',
      description: 'Hard stop: no workflow code runs after it; the run is `terminated`. The reason is required.',
      params: RunIdParams, body: TerminateRequest, bodyExample: { reason: 'runaway run' },
      responses: { 200: { description: 'The run is terminated.', schema: OperatorActionResponse, example: { ...actionExample, action: 'terminate', status: 'terminated' }, links: runOperationLinks('/id') } },
      problems: [409],
    },
    async (req, res, { params, body }) => {
      const auth = requireAuth(req);
      const run = await findRun(auth.tenantId, params.id);
      requireActive(run, 'terminated');
      try {
        await temporal.workflowService.terminateWorkflowExecution({
          namespace,
          workflowExecution: { workflowId: run.id },
          identity: identityOf(auth),
          reason: body.reason,
        });
      } catch (err) {
        if (isGone(err)) throw conflict('run-not-active', `Run ${run.id} has already finished.`);
        throw err;
      }
      // A terminated workflow runs no more code, so the row's last transition is written here.
      const error = JSON.stringify({ type: 'Terminated', message: body.reason });
      await db.$executeRaw`
        UPDATE run SET status = 'terminated', error = ${error}::jsonb, completed_at = now(), updated_at = now()
        WHERE id = ${run.id} AND tenant_id = ${auth.tenantId}::uuid AND status NOT IN ('completed', 'failed', 'cancelled', 'terminated', 'timed_out')`;
      const auditEventId = await audit(auth, run, 'terminate', body.reason, {});
      res.json(respond(run, 'terminate', 'terminated', run.workflowRunId, auditEventId));
    },
  );

  defineRoute(
    router,
    {
      method: 'post', path: '/v1/runs/:id/retry', tags: ['operator'], scope: 'operator',
      summary: 'Retry a failed run',
      description: 'For a `failed` or `timed_out` run: resets the workflow to just before the failed step, so earlier steps are neither run nor billed again. The run keeps its id; `workflowRunId` is the new execution.',
      params: RunIdParams, body: OptionalReasonRequest, bodyExample: { reason: 'provider outage is over' },
      responses: { 200: { description: 'The run is running again.', schema: OperatorActionResponse, example: { ...actionExample, action: 'retry', status: 'running' }, links: runOperationLinks('/id') } },
      problems: [409],
    },
    async (req, res, { params, body }) => {
      const auth = requireAuth(req);
      const run = await findRun(auth.tenantId, params.id);
      const handle = temporal.workflow.getHandle(run.id);
      const describe = () =>
        handle.describe().catch((err: unknown) => {
          if (isGone(err)) throw conflict('run-not-retryable', `Run ${run.id} has no workflow to retry.`, run.status);
          throw err;
        });
      let description = await describe();
      if (description.status.name === 'RUNNING' && (run.status === 'failed' || run.status === 'timed_out')) {
        // The workflow writes `failed` to the row just before it closes; wait out that moment.
        await Promise.race([handle.result().catch(() => undefined), setTimeout(CLOSING_GRACE_MS)]);
        description = await describe();
      }
      if (description.status.name !== 'FAILED' && description.status.name !== 'TIMED_OUT') {
        throw conflict('run-not-retryable', `Run ${run.id} is ${run.status}; only a failed or timed-out run can be retried.`, run.status);
      }
      const point = findResetPoint(await temporal.workflow.getHandle(run.id, description.runId).fetchHistory());
      if (!point) {
        throw conflict('run-not-retryable', `Run ${run.id} failed outside any step, so there is no step to retry from.`, run.status);
      }
      // Claim the row first: one conditional UPDATE, so two concurrent retries can't both reset,
      // and the reset run's own transitions (storeResult) find a non-terminal row to complete.
      const claimed = await db.$executeRaw`
        UPDATE run SET status = 'running', error = NULL, completed_at = NULL, updated_at = now()
        WHERE id = ${run.id} AND tenant_id = ${auth.tenantId}::uuid AND status IN ('failed', 'timed_out')`;
      if (claimed === 0) throw conflict('run-not-retryable', `Run ${run.id} is already being retried.`);
      const reason = body.reason ?? `retry from step ${point.activityType}`;
      let newRunId: string;
      try {
        // The generated service type unions the callback overload in; the promise form is what runs.
        const reset = await (temporal.workflowService.resetWorkflowExecution({
          namespace,
          workflowExecution: { workflowId: run.id, runId: description.runId },
          workflowTaskFinishEventId: point.workflowTaskFinishEventId,
          requestId: randomUUID(),
          reason: `${reason} (${identityOf(auth)})`,
        }) as Promise<temporal.api.workflowservice.v1.IResetWorkflowExecutionResponse>);
        newRunId = reset.runId ?? '';
      } catch (err) {
        await db.run.update({
          where: { id: run.id },
          data: { status: run.status, error: run.error ?? undefined, completedAt: run.completedAt },
        });
        throw err;
      }
      await db.run.update({ where: { id: run.id }, data: { workflowRunId: newRunId } });
      const auditEventId = await audit(auth, run, 'retry', body.reason, {
        fromWorkflowRunId: description.runId,
        toWorkflowRunId: newRunId,
        step: point.activityType,
        resetToEventId: Number(point.workflowTaskFinishEventId),
      });
      res.json(respond(run, 'retry', 'running', newRunId, auditEventId));
    },
  );

  defineRoute(
    router,
    {
      method: 'post', path: '/v1/runs/:id/resume', tags: ['operator'], scope: 'operator',
      summary: 'Resume a paused run',
      description: 'For a run in `needs_attention`: `retry` the step, `skip` it (optional steps only) or `abort` the run.',
      params: RunIdParams, body: ResumeRequestBody, bodyExample: { action: 'retry', reason: 'quota raised' },
      responses: { 200: { description: 'The run goes on (or, for `abort`, has failed).', schema: OperatorActionResponse, example: { ...actionExample, action: 'resume', status: 'running' }, links: runOperationLinks('/id') } },
      problems: [409],
    },
    async (req, res, { params, body }) => {
      const auth = requireAuth(req);
      const run = await findRun(auth.tenantId, params.id);
      requireActive(run, 'resumed');
      let step: string;
      try {
        const outcome = await temporal.workflow
          .getHandle(run.id)
          .executeUpdate(resumeRunUpdate, { args: [{ action: body.action, reason: body.reason, actor: actorOf(auth) }] });
        step = outcome.step;
      } catch (err) {
        if (err instanceof WorkflowUpdateFailedError) {
          if (err.cause instanceof ApplicationFailure && err.cause.type === ResumeRejection.stepNotOptional) throw conflict('step-not-optional', err.cause.message, run.status);
          // Not paused, or a run type (or an older workflow version) with no resume handler at all:
          // either way there is nothing waiting for this decision.
          throw conflict('run-not-paused', `Run ${run.id} is not waiting for an operator.`, run.status);
        }
        if (isGone(err)) throw conflict('run-not-active', `Run ${run.id} has already finished.`);
        throw err;
      }
      const auditEventId = await audit(auth, run, 'resume', body.reason, { action: body.action, step });
      res.json(respond(run, 'resume', body.action === 'abort' ? 'failed' : 'running', run.workflowRunId, auditEventId));
    },
  );

  defineRoute(
    router,
    {
      method: 'get', path: '/v1/runs/:id/audit', tags: ['operator'], scope: 'operator',
      summary: "A run's operator actions",
      description: 'Who did what, why and when, oldest first, from the append-only audit trail.',
      params: RunIdParams,
      responses: {
        200: {
          description: 'The audit trail.',
          schema: AuditList,
          example: { data: [{ id: '8d1c2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f', action: 'cancel', actor: 'key:6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f', reason: 'wrong question', details: {}, createdAt: '2026-01-05T10:01:00.000Z' }] },
        },
      },
    },
    async (req, res, { params }) => {
      const auth = requireAuth(req);
      const run = await findRun(auth.tenantId, params.id);
      const rows = await db.auditEvent.findMany({
        where: { tenantId: auth.tenantId, runId: run.id },
        orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
      });
      const data: AuditEventView[] = rows.map((r) => ({
        id: r.id,
        action: r.action,
        actor: r.actor,
        reason: r.reason,
        details: r.details,
        createdAt: r.createdAt.toISOString(),
      }));
      res.json({ data });
    },
  );

  return router;
}
