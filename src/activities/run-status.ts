import { Context } from '@temporalio/activity';
import { Prisma } from '../generated/prisma/client';
import type { Db } from '../db/client';
import type { KeelMetrics } from '../metrics/metrics';
import { TERMINAL_STATUSES, type RunStatus } from '../shared';
import type { ObjectStore } from '../storage';
import { readJson } from '../storage/claim-check';
import { withLedger } from './ledger';

export interface RunError {
  type: string;
  message: string;
  step?: string;
  /** Why guardrails blocked the run: layers and rules, never content. */
  reasons?: unknown[];
}

/**
 * Run-row transitions. Each is a single conditional UPDATE, so a retried or re-delivered
 * write changes nothing the second time, and a terminal status is never overwritten.
 */
export function createRunStatusActivities(db: Db, metrics?: KeelMetrics, store?: ObjectStore) {
  const terminal = Prisma.join([...TERMINAL_STATUSES]);
  return {
    async markRunRunning(input: { runId: string; tenantId: string }): Promise<void> {
      const workflowRunId = Context.current().info.workflowExecution?.runId ?? null;
      await db.$executeRaw`
        UPDATE run SET status = 'running', started_at = COALESCE(started_at, now()),
               workflow_run_id = ${workflowRunId}, updated_at = now()
        WHERE id = ${input.runId} AND tenant_id = ${input.tenantId}::uuid AND status NOT IN (${terminal})`;
    },

    async markRunFinished(input: { runId: string; tenantId: string; status: RunStatus; error?: RunError }): Promise<void> {
      const error = input.error === undefined ? null : JSON.stringify(input.error);
      const changed = await db.$executeRaw`
        UPDATE run SET status = ${input.status}, error = ${error}::jsonb,
               completed_at = now(), updated_at = now()
        WHERE id = ${input.runId} AND tenant_id = ${input.tenantId}::uuid AND status NOT IN (${terminal})`;
      if (changed > 0) metrics?.runsFinished.inc({ type: Context.current().info.workflowType, status: input.status });
    },

    /** A step ran out of retries and the run waits for an operator (`onFailure: "pause"`). */
    async markRunNeedsAttention(input: { runId: string; tenantId: string; error: RunError }): Promise<void> {
      await db.$executeRaw`
        UPDATE run SET status = 'needs_attention', error = ${JSON.stringify(input.error)}::jsonb, updated_at = now()
        WHERE id = ${input.runId} AND tenant_id = ${input.tenantId}::uuid AND status NOT IN (${terminal})`;
    },

    /** An operator chose retry or skip: the run works again and the pause's error is history. */
    async markRunResumed(input: { runId: string; tenantId: string }): Promise<void> {
      await db.$executeRaw`
        UPDATE run SET status = 'running', error = NULL, updated_at = now()
        WHERE id = ${input.runId} AND tenant_id = ${input.tenantId}::uuid AND status = 'needs_attention'`;
    },

    /** `resultKey`: the result's `data` is in object storage (claim-check); the run row gets it inline. */
    async storeResult(input: { runId: string; tenantId: string; result: unknown; model?: string; resultKey?: string }): Promise<void> {
      let result = input.result;
      if (input.resultKey !== undefined) {
        if (!store) throw new Error('storeResult got a resultKey but this worker has no object store');
        const { data } = await readJson<{ data: unknown }>(store, input.tenantId, input.resultKey);
        const { resultKey: _key, ...rest } = input.result as Record<string, unknown>;
        result = { ...rest, data };
      }
      // The run turns `completed` in the same transaction that closes this step's ledger row,
      // so a reader never sees a completed run with an open step.
      await withLedger(db, { runId: input.runId, tenantId: input.tenantId, step: 'storeResult' }, async () => undefined, () => [
        db.$executeRaw`
          UPDATE run SET status = 'completed', result = ${JSON.stringify(result)}::jsonb,
                 model = COALESCE(${input.model ?? null}, model), completed_at = now(), updated_at = now()
          WHERE id = ${input.runId} AND tenant_id = ${input.tenantId}::uuid AND status NOT IN (${terminal})`,
      ]);
      metrics?.runsFinished.inc({ type: Context.current().info.workflowType, status: 'completed' });
    },
  };
}
