import { Client, WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { temporal as proto } from '@temporalio/proto';
import { randomUUID } from 'node:crypto';
import { setTimeout } from 'node:timers/promises';
import type { Config } from '../config';
import type { Run } from '../generated/prisma/client';
import { runLinks } from '../api/links';
import { HttpProblem, problems } from '../api/problem';
import { findResetPoint } from '../api/reset-point';
import type { AuditEventView, OperatorAction, OperatorActionResponse, ResumeRequestBody } from '../schemas/operator';
import { ResumeRejection, resumeRunUpdate, type RunStatus } from '../shared';
import { isTerminal } from './status';
import { syncRun, type RunSyncDeps, type SyncedRun } from './sync';
import { isGone, keelIdentity, resetReason, type HistoryAuditEvent } from './temporal';

/** Who asks for an operator action: a tenant's API key. */
export interface Operator {
  tenantId: string;
  keyId: string;
}

export interface OperatorDeps extends RunSyncDeps {
  config: Config;
}

const CLOSING_GRACE_MS = 5_000;
const EVENT_PATIENCE_MS = 10_000;

function conflict(slug: string, detail: string, runStatus?: string): HttpProblem {
  return new HttpProblem(409, slug, 'Conflict', detail, runStatus ? { runStatus } : {});
}

/**
 * Cancel, terminate, retry (reset to the failed step), resume and the audit trail, as one service:
 * each action finds the tenant's run (404), checks that its status allows the action (409), asks
 * Temporal with Keel's identity for the key (`keel-api key:<id>`) and the reason, then syncs the
 * row and the audit trail from Temporal — so an action made here and the same action made in the
 * Web UI or the CLI leave the same row and the same audit entry.
 */
export function createOperatorActions(deps: OperatorDeps) {
  const { db, temporal, config } = deps;
  const namespace = temporal.options.namespace;

  const find = async (tenantId: string, id: string): Promise<Run> => {
    const run = await db.run.findFirst({ where: { id, tenantId } });
    if (!run) throw problems.notFound(`Run ${id}`);
    return run;
  };
  const requireActive = (run: Run, action: string) => {
    if (isTerminal(run.status)) throw conflict('run-not-active', `Run ${run.id} is ${run.status}; only a run in progress can be ${action}.`, run.status);
  };
  /**
   * Syncs until the action's event is in the history: Temporal holds back events that arrive while
   * a workflow task is in flight until that task completes (milliseconds, normally).
   */
  const syncUntil = async (run: Run, found: (e: HistoryAuditEvent) => boolean): Promise<[SyncedRun, HistoryAuditEvent | undefined]> => {
    const until = Date.now() + EVENT_PATIENCE_MS;
    for (;;) {
      const synced = (await syncRun(deps, run.id)) ?? { run, audit: [] };
      const event = synced.audit.findLast(found);
      if (event || Date.now() > until) return [synced, event];
      await setTimeout(100);
    }
  };
  const respond = (synced: SyncedRun, action: OperatorAction, status: RunStatus, event: HistoryAuditEvent | undefined): OperatorActionResponse => {
    // The Temporal call succeeded, so its event is in the history: its absence is a bug, not a state.
    if (!event) throw new Error(`the ${action} of run ${synced.run.id} is not in its Temporal history`);
    return { id: synced.run.id, action, status, workflowRunId: synced.run.workflowRunId, auditEventId: event.id, links: runLinks(config, synced.run.id) };
  };
  const by = (action: string, identity: string) => (e: HistoryAuditEvent) => e.action === action && e.identity === identity;

  return {
    /** Graceful: the workflow runs its cleanup and records `cancelled`; the model call in flight is aborted. */
    cancel: async (op: Operator, id: string, reason: string | undefined): Promise<OperatorActionResponse> => {
      const run = await find(op.tenantId, id);
      requireActive(run, 'cancelled');
      const identity = keelIdentity(op.keyId);
      try {
        await temporal.workflowService.requestCancelWorkflowExecution({
          namespace, workflowExecution: { workflowId: run.id }, identity, requestId: randomUUID(), reason: reason ?? 'cancelled by operator',
        });
      } catch (err) {
        if (isGone(err)) throw conflict('run-not-active', `Run ${run.id} has already finished.`);
        throw err;
      }
      const [synced, event] = await syncUntil(run, by('cancel', identity));
      return respond(synced, 'cancel', synced.run.status as RunStatus, event);
    },

    /** Hard stop: no workflow code runs after it. */
    terminate: async (op: Operator, id: string, reason: string): Promise<OperatorActionResponse> => {
      const run = await find(op.tenantId, id);
      requireActive(run, 'terminated');
      const identity = keelIdentity(op.keyId);
      try {
        await temporal.workflowService.terminateWorkflowExecution({ namespace, workflowExecution: { workflowId: run.id }, identity, reason });
      } catch (err) {
        if (isGone(err)) throw conflict('run-not-active', `Run ${run.id} has already finished.`);
        throw err;
      }
      const [synced, event] = await syncUntil(run, by('terminate', identity));
      return respond(synced, 'terminate', 'terminated', event);
    },

    /**
     * A failed or timed-out run: reset its workflow to the task that scheduled the step that did not
     * finish, so earlier steps replay from history instead of running (and billing) again.
     */
    retry: async (op: Operator, id: string, reason: string | undefined): Promise<OperatorActionResponse> => {
      const run = await find(op.tenantId, id);
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
      if (!point) throw conflict('run-not-retryable', `Run ${run.id} failed outside any step, so there is no step to retry from.`, run.status);
      // Claim the row first: one conditional UPDATE, so two concurrent retries can't both reset.
      const claimed = await db.run.updateMany({
        where: { id: run.id, tenantId: op.tenantId, status: { in: ['failed', 'timed_out'] }, workflowRunId: run.workflowRunId },
        data: { status: 'running', completedAt: null },
      });
      if (claimed.count === 0) throw conflict('run-not-retryable', `Run ${run.id} is already being retried.`);
      const identity = keelIdentity(op.keyId);
      let newRunId: string;
      try {
        // The generated service type unions the callback overload in; the promise form is what runs.
        const reset = await (temporal.workflowService.resetWorkflowExecution({
          namespace,
          workflowExecution: { workflowId: run.id, runId: description.runId },
          workflowTaskFinishEventId: point.workflowTaskFinishEventId,
          requestId: randomUUID(),
          identity,
          reason: resetReason(reason ?? `retry from step ${point.activityType}`, identity),
        }) as Promise<proto.api.workflowservice.v1.IResetWorkflowExecutionResponse>);
        newRunId = reset.runId ?? '';
      } catch (err) {
        await db.run.updateMany({ where: { id: run.id, status: 'running', workflowRunId: run.workflowRunId }, data: { status: run.status, completedAt: run.completedAt } });
        throw err;
      }
      const [synced, event] = await syncUntil(run, (e) => e.action === 'reset' && e.details.toWorkflowRunId === newRunId);
      return { ...respond(synced, 'retry', 'running', event), workflowRunId: newRunId };
    },

    /** A run paused on failure (`needs_attention`): retry the step, skip it (optional steps) or abort. */
    resume: async (op: Operator, id: string, body: ResumeRequestBody): Promise<OperatorActionResponse> => {
      const run = await find(op.tenantId, id);
      requireActive(run, 'resumed');
      const updateId = randomUUID();
      // The update's sender identity is the client's: one per key (clients are cheap; they share the connection).
      const asOperator = new Client({
        connection: temporal.connection, namespace, dataConverter: temporal.options.dataConverter, interceptors: temporal.options.interceptors, identity: keelIdentity(op.keyId),
      });
      try {
        await asOperator.workflow
          .getHandle(run.id)
          .executeUpdate(resumeRunUpdate, { updateId, args: [{ action: body.action, reason: body.reason, actor: `key:${op.keyId}` }] });
      } catch (err) {
        if (err instanceof WorkflowUpdateFailedError) {
          const cause = err.cause instanceof ApplicationFailure ? err.cause : undefined;
          if (cause?.type === ResumeRejection.stepNotOptional) throw conflict('step-not-optional', cause.message, run.status);
          // Not paused, or a workflow that takes no resume (no handler): the run's state does not allow it.
          throw conflict('run-not-paused', `Run ${run.id} is not waiting for an operator.`, run.status);
        }
        if (isGone(err)) throw conflict('run-not-active', `Run ${run.id} has already finished.`);
        throw err;
      }
      const [synced, event] = await syncUntil(run, (e) => e.updateId === updateId);
      return respond(synced, 'resume', body.action === 'abort' ? 'failed' : 'running', event);
    },

    /**
     * Who did what, why and when, oldest first: the operator actions in the run's Temporal
     * histories (recorded as they are read, once each) plus anything recorded before.
     */
    audit: async (op: Operator, id: string): Promise<AuditEventView[]> => {
      const run = await find(op.tenantId, id);
      await syncRun(deps, run.id);
      const rows = await db.auditEvent.findMany({ where: { tenantId: op.tenantId, runId: run.id }, orderBy: [{ createdAt: 'asc' }, { id: 'asc' }] });
      return rows.map((r) => ({ id: r.id, action: r.action, actor: r.actor, reason: r.reason, details: r.details, createdAt: r.createdAt.toISOString() }));
    },
  };
}

export type OperatorActions = ReturnType<typeof createOperatorActions>;
