import { WorkflowFailedError, type Client } from '@temporalio/client';
import type { Db } from '../db/client';
import type { Run } from '../generated/prisma/client';
import { TERMINAL_STATUSES, type RunStatus } from '../shared';

/** A non-terminal row untouched this long is checked against Temporal when read. */
export const STALE_RUN_MS = 5_000;

const CLOSED: Partial<Record<string, RunStatus>> = {
  COMPLETED: 'completed',
  FAILED: 'failed',
  CANCELLED: 'cancelled',
  TERMINATED: 'terminated',
  TIMED_OUT: 'timed_out',
};

/**
 * Temporal is the truth about a run; the row is a copy written by activities. If a worker died
 * between a step and its status write, or the workflow was closed from outside Keel (the Web UI,
 * the CLI), the row lags. A reader of a stale, non-terminal row asks Temporal and writes the
 * outcome with the same conditional UPDATE the activities use. Returns whether the row changed.
 */
export async function reconcileRun(deps: { db: Db; temporal: Client }, run: Run, now = Date.now()): Promise<boolean> {
  if (TERMINAL_STATUSES.includes(run.status as RunStatus) || now - run.updatedAt.getTime() < STALE_RUN_MS) return false;
  const handle = deps.temporal.workflow.getHandle(run.id);
  let temporalStatus: string;
  try {
    temporalStatus = (await handle.describe()).status.name;
  } catch {
    // Temporal unreachable or the workflow unknown: show the row as it is rather than fail the read.
    return false;
  }
  const status = CLOSED[temporalStatus];
  if (!status) return false;
  let result: string | null = null;
  let error: string | null = null;
  if (status === 'completed') {
    result = JSON.stringify(await handle.result());
  } else {
    const failure = await handle.result().then(
      () => undefined,
      (err: unknown) => (err instanceof WorkflowFailedError && err.cause ? err.cause : err),
    );
    const message = failure instanceof Error ? failure.message : `Run ${status.replace('_', ' ')}`;
    error = JSON.stringify({ type: failure instanceof Error ? failure.name : 'WorkflowClosed', message, reconciled: true });
  }
  const changed = await deps.db.$executeRaw`
    UPDATE run SET status = ${status}, result = COALESCE(${result}::jsonb, result), error = COALESCE(${error}::jsonb, error),
           completed_at = COALESCE(completed_at, now()), updated_at = now()
    WHERE id = ${run.id} AND tenant_id = ${run.tenantId}::uuid
      AND status NOT IN ('completed', 'failed', 'cancelled', 'terminated', 'timed_out')`;
  return changed > 0;
}
