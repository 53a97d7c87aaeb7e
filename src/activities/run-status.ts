import { Context } from '@temporalio/activity';
import type { Db } from '../db/client';
import type { KeelMetrics } from '../metrics/metrics';
import { type RunError } from '../runs/status';
import { createRunTransitions } from '../runs/transitions';
import type { CacheHitInfo, RunStatus } from '../shared';
import type { ObjectStore } from '../storage';
import { readJson } from '../storage/claim-check';
import { currentExecution, withLedger } from './ledger';

export type { RunError };


/** The workflow's own run-row transitions, through the run lifecycle's one set of writes (src/runs). */
export function createRunStatusActivities(db: Db, metrics?: KeelMetrics, store?: ObjectStore) {
  const runs = createRunTransitions(db);
  return {
    async markRunRunning(input: { runId: string; tenantId: string }): Promise<void> {
      await runs.running(input, currentExecution());
    },

    async markRunFinished(input: { runId: string; tenantId: string; status: RunStatus; error?: RunError }): Promise<void> {
      const changed = await runs.finished(input, currentExecution(), input.status, input.error);
      if (changed > 0) metrics?.runsFinished.inc({ type: Context.current().info.workflowType, status: input.status });
    },

    /** A step ran out of retries and the run waits for an operator (`onFailure: "pause"`). */
    async markRunNeedsAttention(input: { runId: string; tenantId: string; error: RunError }): Promise<void> {
      await runs.needsAttention(input, currentExecution(), input.error);
    },

    /** An operator chose retry or skip: the run works again and the pause's error is history. */
    async markRunResumed(input: { runId: string; tenantId: string }): Promise<void> {
      await runs.resumed(input, currentExecution());
    },

    /**
     * `resultKey`: the result's `data` is in object storage (claim-check); the run row gets it inline.
     * `cache`: the run was answered from the result cache (which kind, the original run, its age).
     */
    async storeResult(input: { runId: string; tenantId: string; result: unknown; model?: string; resultKey?: string; cache?: CacheHitInfo }): Promise<void> {
      let result = input.result;
      if (input.resultKey !== undefined) {
        if (!store) throw new Error('storeResult got a resultKey but this worker has no object store');
        const { data } = await readJson<{ data: unknown }>(store, input.tenantId, input.resultKey);
        const { resultKey: _key, ...rest } = input.result as Record<string, unknown>;
        result = { ...rest, data };
      }
      // The run turns `completed` in the same transaction that closes this step's ledger row,
      // so a reader never sees a completed run with an open step.
      // One statement: the run's transition and the step's row (docs/lean-orchestration.md).
      await withLedger(db, { runId: input.runId, tenantId: input.tenantId, step: 'storeResult' }, async () => undefined, undefined, {
        withCompleted: () => runs.completedSql(input, currentExecution(), result, input.model, input.cache),
      });
      metrics?.runsFinished.inc({ type: Context.current().info.workflowType, status: 'completed' });
    },
  };
}
