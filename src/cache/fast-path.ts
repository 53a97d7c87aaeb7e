import { randomUUID } from 'node:crypto';
import type { Db } from '../db/client';
import type { Prisma } from '../generated/prisma/client';
import type { KeelMetrics } from '../metrics/metrics';
import type { AnswerResult, CacheControl, CacheHitInfo, ModelOptions } from '../shared';
import type { ResultCache } from './result-cache';

export interface CachedAnswer {
  cache: CacheHitInfo;
  result: AnswerResult;
}

/**
 * The API's cache fast path, one call before a run would start: an exact hit records a run that
 * is already `completed` (marked cached, with the original run's id) and returns its result; a
 * miss, an opted-out tenant, `no-cache` or Redis being down returns undefined and the run starts.
 */
export async function answerFromCache(
  deps: { db: Db; cache: ResultCache; metrics?: KeelMetrics },
  req: { tenantId: string; runId: string; question: string; options: ModelOptions; control: CacheControl; input: Prisma.InputJsonObject; inputHash: string },
): Promise<CachedAnswer | undefined> {
  if (!req.control.lookup) return undefined;
  const startedAt = new Date();
  const hit = await deps.cache.lookupExact(req.tenantId, req.question, req.options);
  if (!hit) return undefined;
  const cache: CacheHitInfo = { kind: hit.kind, originalRunId: hit.value.runId, ageSeconds: hit.ageSeconds };
  const result: AnswerResult = { ...hit.value.result, cache };
  await recordCachedRun(deps.db, { ...req, result, cache, startedAt });
  deps.metrics?.runsStarted.inc({ type: 'answer' });
  deps.metrics?.runsFinished.inc({ type: 'answer', status: 'completed' });
  return { cache, result };
}

/**
 * A run served from the cache is still a run: listed, readable, counted in usage (zero tokens,
 * one `cacheLookup` ledger row) and in metrics. No workflow exists for it.
 */
export async function recordCachedRun(
  db: Db,
  run: { tenantId: string; runId: string; options: ModelOptions; input: Prisma.InputJsonObject; inputHash: string; result: AnswerResult; cache: CacheHitInfo; startedAt: Date },
): Promise<void> {
  const endedAt = new Date();
  await db.$transaction([
    db.run.create({
      data: {
        id: run.runId, tenantId: run.tenantId, type: 'answer', status: 'completed', input: run.input, inputHash: run.inputHash,
        options: { ...run.options }, model: run.result.model, result: run.result as unknown as Prisma.InputJsonObject,
        cache: { ...run.cache }, startedAt: run.startedAt, completedAt: endedAt,
      },
    }),
    db.runStep.create({
      data: {
        id: randomUUID(), runId: run.runId, tenantId: run.tenantId, workflowRunId: 'api-cache', activityId: 'cacheLookup', step: 'cacheLookup',
        attempt: 1, status: 'completed', startedAt: run.startedAt, endedAt, latencyMs: endedAt.getTime() - run.startedAt.getTime(),
        tokensIn: 0, tokensOut: 0, costUsd: 0, output: { kind: run.cache.kind, originalRunId: run.cache.originalRunId },
      },
    }),
  ]);
}
