import { Context } from '@temporalio/activity';
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import type { Db } from '../db/client';
import { executeRaw } from '../db/raw';
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

/** The Temporal execution (run id) the current activity runs in: ledger rows and run-row transitions are written in its name. */
export const currentExecution = (): string => Context.current().info.workflowExecution?.runId ?? 'standalone';

/** How long an attempt keeps trying to record its outcome while Postgres is unreachable. */
export const LEDGER_WRITE_PATIENCE_MS = 30_000;

/**
 * A write that will fail the same way again: a constraint or data error (Prisma's P2xxx), not the
 * database being unreachable. A raw statement's failure is P2010 whatever the cause (or `pg`'s
 * error, for one sent directly), so its SQLSTATE decides: class 22 (data), 23 (constraint) and 42
 * (syntax, access) are bugs; anything else (a connection closed mid-statement has none) is weather.
 */
export function isPermanentWriteError(err: unknown): boolean {
  // A statement sent through `pg` directly (src/db/raw.ts) fails with the SQLSTATE in `code`.
  if (err instanceof pg.DatabaseError) return typeof err.code === 'string' && /^(22|23|42)/.test(err.code);
  if (!(err instanceof Prisma.PrismaClientKnownRequestError) || !err.code.startsWith('P2')) return false;
  if (err.code === 'P2024') return false; // timed out waiting for a pooled connection
  if (err.code !== 'P2010') return true;
  // With @prisma/adapter-pg the SQLSTATE is the driver adapter error's `originalCode`.
  const meta = err.meta as { code?: unknown; driverAdapterError?: { cause?: { originalCode?: unknown } } } | undefined;
  const sqlState = meta?.driverAdapterError?.cause?.originalCode ?? meta?.code;
  return typeof sqlState === 'string' && /^(22|23|42)/.test(sqlState);
}

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
      const permanent = isPermanentWriteError(err);
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
  /**
   * `part`: for an activity that does two steps' work (`lookupAndRetrieve`), which one this row is;
   * its row is keyed `<activity id>:<part>`, so each part keeps its own attempts and a retry returns
   * each part's recorded output.
   */
  ids: { runId: string; tenantId: string; step: string; part?: string },
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
     * transition. Mutually exclusive with `onSuccess`; when it returns nothing (guardOutput did not
     * end the run), the attempt's row is written as without it.
     */
    withCompleted?: (result: T) => Prisma.Sql | undefined;
    /**
     * For an activity that does two steps' work (`part`): on success, this row is not written but
     * added to `defer`, and a later part's write carries it (`carry`), or `writeLedgerRows` writes it.
     */
    defer?: LedgerOutcome[];
    /**
     * Rows deferred by an earlier part, or by a part this attempt runs (guardOutput's `storeResult`
     * and `cacheStore`): written in the same statement as this attempt's outcome, whatever it is.
     * Taken when the outcome is written, not when the attempt starts.
     */
    carry?: LedgerOutcome[];
  } = {},
): Promise<T> {
  const recordStart = opts.recordStart ?? true;
  const info = Context.current().info;
  const key = {
    runId: ids.runId,
    workflowRunId: currentExecution(),
    activityId: ids.part ? `${info.activityId}:${ids.part}` : info.activityId,
    attempt: info.attempt,
  };
  // Taken once, at the first write (a write that persistOutcome repeats carries the same rows).
  let taken: LedgerOutcome[] | undefined;
  const carried = () => (taken ??= opts.carry?.splice(0) ?? []);
  if (info.attempt > 1) {
    const done = await db.runStep.findFirst({
      where: { runId: key.runId, workflowRunId: key.workflowRunId, activityId: key.activityId, status: 'completed' },
      select: { output: true },
    });
    // The row was written from this activity's own result, so it has the activity's type.
    if (done) {
      await writeLedgerRows(db, carried());
      return (done.output ?? undefined) as T;
    }
  }
  const startedAt = new Date();
  const row = { ...key, tenantId: ids.tenantId, step: ids.step };
  // Raw statements, not the ORM's upsert: every step writes here, and a compiled ORM query costs
  // the worker several times the CPU of a tagged template (docs/lean-orchestration.md).
  if (recordStart) {
    await executeRaw(db, Prisma.sql`
      INSERT INTO run_step (id, run_id, tenant_id, workflow_run_id, activity_id, step, attempt, status, started_at)
      VALUES (${randomUUID()}::uuid, ${row.runId}, ${row.tenantId}::uuid, ${row.workflowRunId}, ${row.activityId}, ${row.step}, ${row.attempt}, 'started', ${startedAt})
      ON CONFLICT (run_id, workflow_run_id, activity_id, attempt) DO UPDATE SET status = 'started', started_at = EXCLUDED.started_at`);
  }
  const entry: LedgerEntry = { usage: {}, lineage: { build: attemptBuildId() } };
  const outcome = (status: 'completed' | 'failed' | 'cancelled', error?: unknown, endedAt = new Date(), output?: T): LedgerOutcome => ({
    ...row,
    status,
    startedAt,
    endedAt,
    entry,
    error: error === undefined ? undefined : status === 'cancelled' ? error : errorSummary(error),
    output,
  });
  /** This attempt's outcome row, with any rows an earlier part deferred to it (`carry`). */
  const outcomeRows = (status: 'completed' | 'failed' | 'cancelled', error?: unknown, endedAt?: Date, output?: T) =>
    outcomeSql([...carried(), outcome(status, error, endedAt, output)]);
  const finish = (status: 'completed' | 'failed' | 'cancelled', error?: unknown, endedAt?: Date, output?: T) =>
    executeRaw(db, outcomeRows(status, error, endedAt, output));
  try {
    const result = await fn(entry);
    const endedAt = new Date();
    if (opts.defer) {
      opts.defer.push(outcome('completed', undefined, endedAt, result));
      return result;
    }
    await persistOutcome(async (): Promise<unknown> => {
      const completing = opts.withCompleted?.(result);
      if (completing) return executeRaw(db, Prisma.sql`WITH alongside AS (${completing}) ${outcomeRows('completed', undefined, endedAt, result)}`);
      const alongside = onSuccess?.(result) ?? [];
      // A lone statement is atomic by itself: a transaction would add BEGIN and COMMIT round trips.
      // The transaction batches Prisma's own statements, so its row goes through Prisma too.
      return alongside.length > 0
        ? db.$transaction([...alongside, db.$executeRaw`${outcomeRows('completed', undefined, endedAt, result)}`])
        : finish('completed', undefined, endedAt, result);
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

/** Writes rows an activity's parts deferred (`defer`) when no later part carries them; one statement. */
export async function writeLedgerRows(db: Db, rows: LedgerOutcome[]): Promise<void> {
  const pending = rows.splice(0);
  if (pending.length > 0) await persistOutcome(() => executeRaw(db, outcomeSql(pending)));
}

/** One attempt's outcome, as `withLedger` writes it (kept back by `defer`). */
export interface LedgerOutcome {
  runId: string;
  workflowRunId: string;
  activityId: string;
  attempt: number;
  tenantId: string;
  step: string;
  status: 'completed' | 'failed' | 'cancelled';
  startedAt: Date;
  endedAt: Date;
  entry: LedgerEntry;
  error: unknown;
  output: unknown;
}

/**
 * Attempts' outcomes as one upsert: each row whether or not its `started` row was written. The one
 * writer of ledger rows: also the API's, for a run answered from the cache (`recordCompleted`).
 * An attempt with no lineage (nothing known of the code that ran it) records none.
 */
export function outcomeSql(outcomes: LedgerOutcome[]): Prisma.Sql {
  const json = (v: unknown) => (v === undefined ? null : JSON.stringify(v));
  const values = outcomes.map((o) => {
    const { usage, lineage } = o.entry;
    return Prisma.sql`(${randomUUID()}::uuid, ${o.runId}, ${o.tenantId}::uuid, ${o.workflowRunId}, ${o.activityId}, ${o.step}, ${o.attempt},
            ${o.status}, ${o.startedAt}, ${o.endedAt}, ${o.endedAt.getTime() - o.startedAt.getTime()},
            ${usage.tokensIn ?? null}::int, ${usage.tokensOut ?? null}::int, ${usage.model ?? null}, ${usage.costUsd ?? null}::numeric,
            ${Object.keys(lineage).length > 0 ? json(lineage) : null}::jsonb, ${json(o.error)}::jsonb, ${json(o.output)}::jsonb)`;
  });
  return Prisma.sql`
    INSERT INTO run_step (id, run_id, tenant_id, workflow_run_id, activity_id, step, attempt, status, started_at, ended_at, latency_ms,
                          tokens_in, tokens_out, model, cost_usd, lineage, error, output)
    VALUES ${Prisma.join(values)}
    ON CONFLICT (run_id, workflow_run_id, activity_id, attempt) DO UPDATE SET
      status = EXCLUDED.status, ended_at = EXCLUDED.ended_at, latency_ms = EXCLUDED.latency_ms, tokens_in = EXCLUDED.tokens_in,
      tokens_out = EXCLUDED.tokens_out, model = EXCLUDED.model, cost_usd = EXCLUDED.cost_usd, lineage = EXCLUDED.lineage,
      error = EXCLUDED.error, output = EXCLUDED.output`;
}

/**
 * Earlier attempts of the current activity (same workflow run) that recorded their start and
 * never an outcome: withLedger records `failed` for every attempt that ends, even by
 * cancellation, so such a row means the process running the attempt died.
 */
export async function crashedAttempts(db: Db, runId: string): Promise<number> {
  const info = Context.current().info;
  return db.runStep.count({
    where: { runId, workflowRunId: currentExecution(), activityId: info.activityId, attempt: { lt: info.attempt }, status: 'started' },
  });
}
