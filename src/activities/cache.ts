import { Context } from '@temporalio/activity';
import type { CacheControl, CacheTicket, ResultCache, RunLookup } from '../cache';
import type { Db } from '../db/client';
import type { AnswerResult, ModelOptions } from '../shared';
import { withLedger } from './ledger';

export interface CacheActivityDeps {
  db: Db;
  /** Unset: no cache (lookups miss, nothing is stored). */
  cache?: ResultCache;
}

export function createCacheActivities(deps: CacheActivityDeps) {
  const { db, cache } = deps;
  return {
    /** Exact, then semantic lookup; waits for an identical run that is already computing (single flight). */
    async cacheLookup(input: { runId: string; tenantId: string; question: string; options: ModelOptions; control?: CacheControl }): Promise<RunLookup> {
      return withLedger(db, { runId: input.runId, tenantId: input.tenantId, step: 'cacheLookup' }, async (entry) => {
        if (!cache) return {};
        const ctx = Context.current();
        return cache.lookupForRun({
          ...input, control: input.control ?? { lookup: true, store: true }, entry,
          heartbeat: () => ctx.heartbeat(), sleep: (ms) => ctx.sleep(ms), signal: ctx.cancellationSignal,
        });
        // One row when the lookup ends: its only bill is a query embedding, recorded with the row (and on failure).
      }, undefined, { recordStart: false });
    },

    /** Offers a completed run's result to the cache; refused for PII, `no-store` or an opted-out tenant. */
    /** `runStartedAtMs`: when the workflow run started (the lean answer workflow passes it, saving a read of the run row). */
    async cacheStore(input: { runId: string; tenantId: string; question: string; ticket: CacheTicket; result: AnswerResult; runStartedAtMs?: number }): Promise<{ outcome: string }> {
      return withLedger(db, { runId: input.runId, tenantId: input.tenantId, step: 'cacheStore' }, async (entry) => {
        if (!cache) return { outcome: 'off' };
        const [spent, run] = await Promise.all([
          db.runStep.aggregate({ where: { runId: input.runId, tenantId: input.tenantId }, _sum: { tokensIn: true, tokensOut: true, costUsd: true } }),
          input.runStartedAtMs === undefined ? db.run.findFirst({ where: { id: input.runId, tenantId: input.tenantId }, select: { startedAt: true, createdAt: true } }) : undefined,
        ]);
        const startedAtMs = input.runStartedAtMs ?? (run ? (run.startedAt ?? run.createdAt).getTime() : Date.now());
        const saved = {
          tokens: (spent._sum.tokensIn ?? 0) + (spent._sum.tokensOut ?? 0),
          costUsd: Number(spent._sum.costUsd ?? 0),
          latencyMs: Date.now() - startedAtMs,
        };
        const ctx = Context.current();
        return { outcome: await cache.store({ ...input, saved, entry, signal: ctx.cancellationSignal }) };
      }, undefined, { recordStart: false });
    },

    /** A run that held the single-flight lease and failed lets identical runs go ahead at once. */
    async cacheRelease(input: { runId: string; ticket: CacheTicket }): Promise<void> {
      await cache?.release(input.ticket, input.runId);
    },
  };
}
