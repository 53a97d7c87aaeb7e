import { Context } from '@temporalio/activity';
import type { Db } from '../db/client';
import type { KeelMetrics } from '../metrics/metrics';
import { type RunError } from '../runs/status';
import { createRunTransitions } from '../runs/transitions';
import type { AnswerResult, CacheHitInfo, RunStatus } from '../shared';
import type { ObjectStore } from '../storage';
import { readJson } from '../storage/claim-check';
import type { ResultCache } from '../cache';
import { offerBeforeCompleting, type CacheStoreInput } from './cache';
import { currentExecution, withLedger, type LedgerOutcome } from './ledger';

export type { RunError };

/** The workflow's own run-row transitions, through the run lifecycle's one set of writes (src/runs). */
export function createRunStatusActivities(db: Db, metrics?: KeelMetrics, store?: ObjectStore, cache?: ResultCache) {
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
     * `cacheStore`: first offer the answer to the result cache (the `cacheStore` step, with its own
     * ledger row), as the lean answer workflow asks: one local activity instead of two.
     */
    async storeResult(input: {
      runId: string; tenantId: string; result: unknown; model?: string; resultKey?: string; cache?: CacheHitInfo;
      cacheStore?: Pick<CacheStoreInput, 'question' | 'ticket' | 'runStartedAtMs'>;
    }): Promise<void> {
      // The cache step's row, written with this step's (one statement).
      const pending: LedgerOutcome[] = [];
      if (input.cacheStore) {
        await offerBeforeCompleting({ db, cache }, { runId: input.runId, tenantId: input.tenantId, result: input.result as AnswerResult, ...input.cacheStore }, pending);
      }
      let result = input.result;
      if (input.resultKey !== undefined) {
        if (!store) throw new Error('storeResult got a resultKey but this worker has no object store');
        const { data } = await readJson<{ data: unknown }>(store, input.tenantId, input.resultKey);
        const { resultKey: _key, ...rest } = input.result as Record<string, unknown>;
        result = { ...rest, data };
      }
      // The run turns `completed` in the same statement that writes this step's ledger row (and the
      // cache step's), so a reader never sees a completed run without its step. No `started` row
      // first: a quick step's attempt is recorded when it ends (docs/lean-orchestration.md).
      await withLedger(db, { runId: input.runId, tenantId: input.tenantId, step: 'storeResult' }, async () => undefined, undefined, {
        recordStart: false,
        withCompleted: () => runs.completedSql(input, currentExecution(), result, input.model, input.cache),
        carry: pending,
      });
      metrics?.runsFinished.inc({ type: Context.current().info.workflowType, status: 'completed' });
    },
  };
}
