import type { Redis } from 'ioredis';
import type OpenAI from 'openai';
import { AesGcmPayloadCodec } from '../codec/aes-gcm-codec';
import type { Config } from '../config';
import type { Db } from '../db/client';
import type { KeelMetrics } from '../metrics/metrics';
import { ResultCache } from './result-cache';
import { Sealer } from './sealed';

export { ResultCache, TENANT_CACHE_COLUMNS, TENANT_CACHE_JOINS, type CacheControl, type CacheTicket, type RunLookup, type TenantCacheRow } from './result-cache';
import type { CacheControl } from '../shared';

/** The cache as API and workers build it from configuration; both must share payload keys and Redis. */
export function createResultCache(
  config: Config,
  deps: { redis: Redis; db: Db; llm?: OpenAI; metrics?: KeelMetrics; warn?: (fields: Record<string, unknown>, message: string) => void },
): ResultCache {
  return new ResultCache({
    ...deps,
    prices: config.KEEL_MODEL_PRICES,
    sealer: new Sealer(config.KEEL_PAYLOAD_KEYS ? new AesGcmPayloadCodec(config.KEEL_PAYLOAD_KEYS) : undefined),
    settings: {
      ttlSeconds: config.KEEL_CACHE_TTL_SECONDS,
      similarityThreshold: config.KEEL_CACHE_SIMILARITY_THRESHOLD,
      semanticMaxTemperature: config.KEEL_CACHE_SEMANTIC_MAX_TEMPERATURE,
      leaseMs: config.KEEL_CACHE_LEASE_MS,
      maxEntriesPerPartition: config.KEEL_CACHE_SEMANTIC_MAX_ENTRIES,
      maxPartitionsInMemory: config.KEEL_CACHE_PARTITIONS_IN_MEMORY,
      keyPrefix: config.KEEL_REDIS_PREFIX,
      promptsDir: config.KEEL_PROMPTS_DIR,
      embeddingModel: config.llm.embeddingModel ?? null,
      retrievalTopK: config.KEEL_RETRIEVAL_TOP_K,
    },
  });
}

/** `Cache-Control` on a run request: `no-cache` answers fresh, `no-store` keeps the result out of the cache. */
export function parseCacheControl(header: string | undefined): CacheControl {
  const directives = (header ?? '').toLowerCase().split(',').map((d) => d.trim());
  return { lookup: !directives.includes('no-cache'), store: !directives.includes('no-store') };
}
