import type { AnswerResult, CacheControl, CacheHitInfo, ModelOptions } from '../shared';
import type { ResultCache, TenantCache } from './result-cache';

export interface CachedAnswer {
  cache: CacheHitInfo;
  result: AnswerResult;
  /** When the lookup began: the recorded run's start and its `cacheLookup` ledger row's. */
  startedAt: Date;
}

/**
 * The API's cache fast path, one lookup before a run would start: an exact hit returns the cached
 * result marked with the original run's id and its age; a miss, an opted-out tenant, `no-cache` or
 * Redis being down returns undefined and the run starts. It writes nothing: the run service
 * (src/runs, `create`) records the hit as a `completed` run, so run rows keep one writer.
 */
export async function answerFromCache(
  cache: ResultCache,
  req: { tenantId: string; question: string; options: ModelOptions; control: CacheControl; settings?: TenantCache },
): Promise<CachedAnswer | undefined> {
  if (!req.control.lookup) return undefined;
  const startedAt = new Date();
  const hit = await cache.lookupExact(req.tenantId, req.question, req.options, req.settings);
  if (!hit) return undefined;
  const info: CacheHitInfo = { kind: hit.kind, originalRunId: hit.value.runId, ageSeconds: hit.ageSeconds };
  return { cache: info, result: { ...hit.value.result, cache: info }, startedAt };
}
