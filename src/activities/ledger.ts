import { Context } from '@temporalio/activity';
import { randomUUID } from 'node:crypto';
import type { Db } from '../db/client';
import { Prisma } from '../generated/prisma/client';
import type { ModelConfigEntry } from '../llm/models';
import { attemptBuildId } from './build-lineage';
import type { PromptRef } from '../llm/prompt-templates';

export interface StepUsage {
  model?: string;
  tokensIn?: number;
  tokensOut?: number;
  costUsd?: number;
}

/** What produced an attempt's output: recorded with it, shown in the run's trace. */
export interface StepLineage {
  /** The build (git commit) of the worker that ran the attempt. */
  build?: string;
  prompts?: PromptRef[];
  modelConfig?: ModelConfigEntry;
  params?: { temperature?: number; top_p?: number; max_tokens?: number };
}

/** What a step reports to its ledger row while it runs: usage and lineage are kept even if the step then fails. */
export interface LedgerEntry {
  usage: StepUsage;
  lineage: StepLineage;
}

function errorSummary(err: unknown): { type: string; message: string } {
  if (err instanceof Error) {
    const type = 'type' in err && typeof err.type === 'string' ? err.type : err.name;
    return { type, message: err.message.slice(0, 2000) };
  }
  return { type: 'Error', message: String(err).slice(0, 2000) };
}

/** Why Temporal cancelled an attempt, when it was the operator's doing (not a timeout or a shutdown). */
const INTERRUPTIONS: Record<string, string> = {
  CANCELLED: 'The run was cancelled while this attempt ran',
  // The workflow closed before the attempt's heartbeat heard of it (a cancel that did not wait
  // for this attempt, a termination, a reset).
  NOT_FOUND: 'The run was closed (cancelled, terminated or reset) while this attempt ran',
  RESET: 'The activity was reset while this attempt ran',
  PAUSED: 'The activity was paused while this attempt ran',
};

function interruption(signal: AbortSignal): { type: string; message: string } | undefined {
  if (!signal.aborted) return undefined;
  const reason: unknown = signal.reason;
  const code = reason instanceof Error ? reason.message : String(reason);
  const message = INTERRUPTIONS[code];
  return message ? { type: 'Cancelled', message } : undefined;
}

/** How long an attempt keeps trying to record its outcome while Postgres is unreachable. */
export const LEDGER_WRITE_PATIENCE_MS = 30_000;

/**
 * Writes an attempt's outcome, riding out a Postgres outage: once a model call has answered (and
 * been billed), failing the attempt over a bookkeeping write would make Temporal call the model
 * again. Heartbeats while it waits so the attempt is not taken for dead. Constraint violations
 * (P2xxx) are bugs, not weather, and fail at once.
 */
async function persistOutcome<T>(write: () => Promise<T>): Promise<T> {
  const ctx = Context.current();
  const until = Date.now() + LEDGER_WRITE_PATIENCE_MS;
  for (let delay = 250; ; delay = Math.min(delay * 2, 2_000)) {
    try {
      return await write();
    } catch (err) {
      const permanent = err instanceof Prisma.PrismaClientKnownRequestError && err.code.startsWith('P2');
      if (permanent || Date.now() + delay > until) throw err;
      ctx.heartbeat();
      await ctx.sleep(delay);
    }
  }
}

/**
 * Runs one activity attempt and records it in the run ledger: one row per
 * (run, workflow execution, activity, attempt). The row is written with an upsert on that key,
 * so a re-delivered write never adds a second row, and a billed attempt that failed keeps its
 * token counts. A worker can die after an attempt completed here but before Temporal heard of
 * it; Temporal then retries, and the retry returns the recorded output instead of running (and
 * billing) the step again.
 */
export async function withLedger<T>(
  db: Db,
  ids: { runId: string; tenantId: string; step: string },
  fn: (entry: LedgerEntry) => Promise<T>,
  /** Writes that must land in the same transaction as the step's `completed` row. */
  onSuccess?: (result: T) => Array<Prisma.PrismaPromise<unknown>>,
  /**
   * `recordStart: false`, for quick steps (guardrail checks, cache lookups and stores, retrieval):
   * no `started` row before the work, one row written when the attempt ends, also when it fails —
   * one statement instead of two (docs/lean-orchestration.md). A model call keeps its `started`
   * row, so a long attempt shows while it runs and one cut off by a crash still shows in the ledger.
   */
  opts: {
    recordStart?: boolean;
    /**
     * A data-modifying statement to run with the `completed` row in ONE statement (a CTE before the
     * ledger upsert), instead of a transaction of BEGIN, the writes and COMMIT: storeResult's run
     * transition. Mutually exclusive with `onSuccess`.
     */
    withCompleted?: (result: T) => Prisma.Sql;
  } = {},
): Promise<T> {
  const recordStart = opts.recordStart ?? true;
  const info = Context.current().info;
  const key = {
    runId: ids.runId,
    workflowRunId: info.workflowExecution?.runId ?? 'standalone',
    activityId: info.activityId,
    attempt: info.attempt,
  };
  if (info.attempt > 1) {
    const done = await db.runStep.findFirst({
      where: { runId: key.runId, workflowRunId: key.workflowRunId, activityId: key.activityId, status: 'completed' },
      select: { output: true },
    });
    // The row was written from this activity's own result, so it has the activity's type.
    if (done) return (done.output ?? undefined) as T;
  }
  const startedAt = new Date();
  const where = { runId_workflowRunId_activityId_attempt: key };
  if (recordStart) {
    await db.runStep.upsert({
      where,
      create: { id: randomUUID(), ...key, tenantId: ids.tenantId, step: ids.step, status: 'started', startedAt },
      update: { status: 'started', startedAt },
    });
  }
  const entry: LedgerEntry = { usage: {}, lineage: { build: attemptBuildId() } };
  const finish = (status: 'completed' | 'failed' | 'cancelled', error?: unknown, endedAt = new Date(), output?: T) => {
    const data = {
      status,
      endedAt,
      latencyMs: endedAt.getTime() - startedAt.getTime(),
      model: entry.usage.model ?? null,
      tokensIn: entry.usage.tokensIn ?? null,
      tokensOut: entry.usage.tokensOut ?? null,
      costUsd: entry.usage.costUsd ?? null,
      lineage: entry.lineage as Prisma.InputJsonObject,
      ...(error === undefined ? {} : { error: status === 'cancelled' ? (error as Prisma.InputJsonObject) : errorSummary(error) }),
      ...(output === undefined ? {} : { output: output as Prisma.InputJsonValue }),
    };
    return recordStart
      ? db.runStep.update({ where, data })
      : db.runStep.upsert({ where, create: { id: randomUUID(), ...key, tenantId: ids.tenantId, step: ids.step, startedAt, ...data }, update: { startedAt, ...data } });
  };
  try {
    const result = await fn(entry);
    const endedAt = new Date();
    await persistOutcome(async (): Promise<unknown> => {
      if (opts.withCompleted) return completedWith(db, opts.withCompleted(result), { ...key, tenantId: ids.tenantId, step: ids.step, startedAt, endedAt, entry, output: result });
      const alongside = onSuccess?.(result) ?? [];
      // A lone statement is atomic by itself: a transaction would add BEGIN and COMMIT round trips.
      return alongside.length > 0 ? db.$transaction([...alongside, finish('completed', undefined, endedAt, result)]) : finish('completed', undefined, endedAt, result);
    });
    return result;
  } catch (err) {
    // An attempt the run's cancel, termination or reset interrupted did not fail: say so.
    const interrupted = interruption(Context.current().cancellationSignal);
    // The ledger write must not mask the step's own failure.
    await (interrupted ? finish('cancelled', interrupted) : finish('failed', err)).catch(() => undefined);
    throw err;
  }
}

/** The `completed` ledger row, upserted in the same statement as `alongside` (a data-modifying CTE, run exactly once). */
function completedWith(
  db: Db,
  alongside: Prisma.Sql,
  row: { runId: string; workflowRunId: string; activityId: string; attempt: number; tenantId: string; step: string; startedAt: Date; endedAt: Date; entry: LedgerEntry; output: unknown },
): Promise<number> {
  const { usage, lineage } = row.entry;
  const output = row.output === undefined ? null : JSON.stringify(row.output);
  return db.$executeRaw`
    WITH alongside AS (${alongside})
    INSERT INTO run_step (id, run_id, tenant_id, workflow_run_id, activity_id, step, attempt, status, started_at, ended_at, latency_ms,
                          tokens_in, tokens_out, model, cost_usd, lineage, output)
    VALUES (${randomUUID()}::uuid, ${row.runId}, ${row.tenantId}::uuid, ${row.workflowRunId}, ${row.activityId}, ${row.step}, ${row.attempt},
            'completed', ${row.startedAt}, ${row.endedAt}, ${row.endedAt.getTime() - row.startedAt.getTime()},
            ${usage.tokensIn ?? null}::int, ${usage.tokensOut ?? null}::int, ${usage.model ?? null}, ${usage.costUsd ?? null}::numeric,
            ${JSON.stringify(lineage)}::jsonb, ${output}::jsonb)
    ON CONFLICT (run_id, workflow_run_id, activity_id, attempt) DO UPDATE SET
      status = 'completed', ended_at = EXCLUDED.ended_at, latency_ms = EXCLUDED.latency_ms, tokens_in = EXCLUDED.tokens_in,
      tokens_out = EXCLUDED.tokens_out, model = EXCLUDED.model, cost_usd = EXCLUDED.cost_usd, lineage = EXCLUDED.lineage, output = EXCLUDED.output`;
}

/**
 * Earlier attempts of the current activity (same workflow run) that recorded their start and
 * never an outcome: withLedger records `failed` for every attempt that ends, even by
 * cancellation, so such a row means the process running the attempt died.
 */
export async function crashedAttempts(db: Db, runId: string): Promise<number> {
  const info = Context.current().info;
  return db.runStep.count({
    where: { runId, workflowRunId: info.workflowExecution?.runId ?? 'standalone', activityId: info.activityId, attempt: { lt: info.attempt }, status: 'started' },
  });
}
