import type { Client, WorkflowExecutionDescription } from '@temporalio/client';
import type { Db } from '../db/client';
import { Prisma, type Run } from '../generated/prisma/client';
import type { KeelMetrics } from '../metrics/metrics';
import { RUN_STATUSES, SearchAttr, type RunStatus, type RunType } from '../shared';
import { canonicalJson } from './canonical-json';
import { CLOSED_STATUS, isTerminal, type RunError } from './status';
import { auditEventsOf, cancelRequest, failureOf, isGone, readExecutions, termination, type Execution, type HistoryAuditEvent } from './temporal';

/**
 * Called once when a run reaches a terminal status that its workflow did not write itself, or
 * did in an execution that was later superseded (terminated from the CLI, cancelled while paused,
 * reset and closed again). Register one per run type, e.g. to clean up an abandoned ingest.
 */
export type RunClosedHook = (run: Run, status: RunStatus) => Promise<void>;
export type RunClosedHooks = Partial<Record<RunType, RunClosedHook>>;

export interface RunSyncDeps {
  db: Db;
  temporal: Client;
  onClosed?: RunClosedHooks;
  metrics?: KeelMetrics;
}

export interface SyncedRun {
  run: Run;
  /** The operator actions in the run's Temporal history, all recorded in the audit trail. */
  audit: HistoryAuditEvent[];
}

type RowState = Pick<Prisma.RunUpdateManyMutationInput, 'status' | 'result' | 'error' | 'completedAt' | 'workflowRunId' | 'executions'>;

const json = (v: unknown) => (v === null || v === undefined ? Prisma.DbNull : (v as Prisma.InputJsonValue));
const sameJson = (a: unknown, b: unknown) => canonicalJson(a) === canonicalJson(b);

/**
 * Makes the run's row say what Temporal says, whoever acted: the latest execution's status, its
 * close time as `completedAt`, its result or failure (a cancel's or terminate's reason included),
 * every execution of the workflow, and every operator action in the histories in the audit trail.
 * While the latest execution runs, the workflow's own transitions are the finer truth
 * (`needs_attention`, …) and are left alone unless the row belongs to an older execution.
 * Writes only if the row did not change since it was read (a concurrent workflow write wins and
 * the sync reads again). Returns undefined for an unknown run.
 */
export async function syncRun(deps: RunSyncDeps, runId: string): Promise<SyncedRun | undefined> {
  for (let attempt = 0; ; attempt++) {
    const row = await deps.db.run.findUnique({ where: { id: runId } });
    if (!row) return undefined;
    let latest: WorkflowExecutionDescription;
    try {
      latest = await deps.temporal.workflow.getHandle(runId).describe();
    } catch (err) {
      // Never started (a run recorded from a cache hit) or deleted by retention: the row stands.
      if (isGone(err)) return { run: row, audit: [] };
      throw err;
    }
    const executions = await readExecutions(deps.temporal, runId, latest);
    const audit = await auditEventsOf(deps.temporal, runId, executions);
    await recordAudit(deps.db, row, audit);
    const next = await stateFrom(deps.temporal, row, latest, executions);
    if (!next) return { run: row, audit };
    const { count } = await deps.db.run.updateMany({ where: { id: runId, updatedAt: row.updatedAt }, data: next });
    if (count === 1) {
      const run = await deps.db.run.findUniqueOrThrow({ where: { id: runId } });
      const closedNow = isTerminal(run.status) && (!isTerminal(row.status) || row.workflowRunId !== run.workflowRunId);
      if (closedNow) {
        if (!isTerminal(row.status)) deps.metrics?.runsFinished.inc({ type: run.type, status: run.status });
        await deps.onClosed?.[run.type as RunType]?.(run, run.status as RunStatus);
      }
      return { run, audit };
    }
    if (attempt >= 4) return { run: row, audit };
  }
}

async function recordAudit(db: Db, run: Run, events: HistoryAuditEvent[]): Promise<void> {
  if (events.length === 0) return;
  await db.auditEvent.createMany({
    data: events.map((e) => ({
      id: e.id, tenantId: run.tenantId, runId: run.id, action: e.action, actor: e.actor, reason: e.reason,
      details: e.details as Prisma.InputJsonObject, createdAt: e.createdAt,
    })),
    skipDuplicates: true,
  });
}

async function stateFrom(temporal: Client, row: Run, latest: WorkflowExecutionDescription, executions: Execution[]): Promise<RowState | undefined> {
  const ids = executions.map((e) => e.runId);
  const sameIds = ids.join() === (row.executions ?? []).join();
  if (latest.status.name === 'RUNNING') {
    // The row is this execution's own (it may already say `completed`, written just before the
    // workflow closes): its transitions are the workflow's to write.
    if (row.workflowRunId === latest.runId) return sameIds ? undefined : { executions: ids };
    // A new execution (a reset) took over from the one the row describes.
    const keel = latest.typedSearchAttributes.get(SearchAttr.status);
    const status = keel && !isTerminal(keel) && (RUN_STATUSES as readonly string[]).includes(keel) ? keel : 'running';
    return { status, result: Prisma.DbNull, error: Prisma.DbNull, completedAt: null, workflowRunId: latest.runId, executions: ids };
  }
  const status = CLOSED_STATUS[latest.status.name];
  if (!status) return undefined;
  const history = executions.find((e) => e.runId === latest.runId)?.history ?? [];
  const sameExecution = row.workflowRunId === latest.runId && row.status === status;
  const rowError = row.error as RunError | null;
  let result: unknown = null;
  let error: RunError | null = null;
  if (status === 'completed') {
    result = sameExecution && row.result !== null ? row.result : await temporal.workflow.getHandle(row.id, latest.runId).result();
  } else if (status === 'cancelled') {
    // The workflow records a bare CancelledFailure; the operator's reason is in the history.
    const request = cancelRequest(history);
    const step = sameExecution ? rowError?.step : undefined;
    error = { type: 'Cancelled', message: request?.reason ?? 'cancelled', ...(step ? { step } : {}), ...(request ? { actor: request.actor } : {}) };
  } else if (status === 'terminated') {
    const t = termination(history);
    error = { type: 'Terminated', message: t?.reason ?? 'terminated', ...(t ? { actor: t.actor } : {}) };
  } else if (sameExecution && rowError) {
    error = rowError;
  } else {
    error = status === 'timed_out' ? { type: 'TimedOut', message: 'The run exceeded its execution timeout' } : await failureOf(temporal, row.id, latest.runId);
  }
  const completedAt = latest.closeTime ?? new Date();
  const unchanged =
    row.status === status && row.workflowRunId === latest.runId && sameIds &&
    row.completedAt?.getTime() === completedAt.getTime() && sameJson(row.error, error) && sameJson(row.result, result);
  if (unchanged) return undefined;
  return { status, result: json(result), error: json(error), completedAt, workflowRunId: latest.runId, executions: ids };
}
