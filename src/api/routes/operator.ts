import { isGrpcServiceError, WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { temporal } from '@temporalio/proto';
import { Router } from 'express';
import { randomUUID } from 'node:crypto';
import { setTimeout } from 'node:timers/promises';
import type { Config } from '../../config';
import type { Db } from '../../db/client';
import type { Run } from '../../generated/prisma/client';
import {
  AuditEventView,
  OptionalReasonRequest,
  ResumeRequestBody,
  TerminateRequest,
  type OperatorAction,
  type OperatorActionResponse,
} from '../../schemas/operator';
import { RunIdParams } from '../../schemas/runs';
import { resumeRunUpdate, ResumeRejection, TERMINAL_STATUSES, type RunStatus } from '../../shared';
import { requireAuth, type AuthContext } from '../auth';
import { runLinks } from '../links';
import { HttpProblem, problems } from '../problem';
import { findResetPoint } from '../reset-point';
import { route } from '../validate';

export interface OperatorDeps {
  db: Db;
  temporal: Client;
  config: Config;
}

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
 * Once API keys carry enforced scopes, every route here needs the `operator` scope.
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

  router.post(
    '/v1/runs/:id/cancel',
    route({ params: RunIdParams, body: OptionalReasonRequest }, async (req, res, { params, body }) => {
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
    }),
  );

  router.post(
    '/v1/runs/:id/terminate',
    route({ params: RunIdParams, body: TerminateRequest }, async (req, res, { params, body }) => {
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
    }),
  );

  router.post(
    '/v1/runs/:id/retry',
    route({ params: RunIdParams, body: OptionalReasonRequest }, async (req, res, { params, body }) => {
      const auth = requireAuth(req);
      const run = await findRun(auth.tenantId, params.id);
      const handle = temporal.workflow.getHandle(run.id);
      let description = await handle.describe();
      if (description.status.name === 'RUNNING' && (run.status === 'failed' || run.status === 'timed_out')) {
        // The workflow writes `failed` to the row just before it closes; wait out that moment.
        await Promise.race([handle.result().catch(() => undefined), setTimeout(CLOSING_GRACE_MS)]);
        description = await handle.describe();
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
    }),
  );

  router.post(
    '/v1/runs/:id/resume',
    route({ params: RunIdParams, body: ResumeRequestBody }, async (req, res, { params, body }) => {
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
        if (err instanceof WorkflowUpdateFailedError && err.cause instanceof ApplicationFailure) {
          if (err.cause.type === ResumeRejection.stepNotOptional) throw conflict('step-not-optional', err.cause.message, run.status);
          if (err.cause.type === ResumeRejection.notPaused) {
            throw conflict('run-not-paused', `Run ${run.id} is not waiting for an operator.`, run.status);
          }
        }
        if (isGone(err)) throw conflict('run-not-active', `Run ${run.id} has already finished.`);
        throw err;
      }
      const auditEventId = await audit(auth, run, 'resume', body.reason, { action: body.action, step });
      res.json(respond(run, 'resume', body.action === 'abort' ? 'failed' : 'running', run.workflowRunId, auditEventId));
    }),
  );

  router.get(
    '/v1/runs/:id/audit',
    route({ params: RunIdParams }, async (req, res, { params }) => {
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
    }),
  );

  return router;
}
