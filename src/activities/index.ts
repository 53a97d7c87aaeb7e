import type OpenAI from 'openai';
import type { ChunkOptions } from '../documents/chunk';
import type { Db } from '../db/client';
import type { PriceTable } from '../llm/pricing';
import type { ObjectStore } from '../storage';
import { createExtractActivities } from './extract';
import type { KeelMetrics } from '../metrics/metrics';
import { createAlertActivities, type AlertWebhook } from './alerts';
import type { ResultCache } from '../cache';
import { createCacheActivities } from './cache';
import { createGenerateActivities } from './generate';
import { createGuardrailActivities } from './guardrails';
import type { PayloadKeyRing } from '../codec/keys';
import { createIngestActivities, type IngestLimits } from './ingest';
import { createRetrieveActivities } from './retrieve';
import { createRunStatusActivities } from './run-status';
import { createSanitizeActivities } from './sanitize';
import { createStrategyActivities } from './strategies';

export interface ActivityDeps {
  db: Db;
  llm: OpenAI;
  prices: PriceTable;
  store: ObjectStore;
  /** Unset: no vectors are made and retrieval is lexical only. */
  embeddingModel?: string;
  chunking?: ChunkOptions;
  retrievalTopK?: number;
  /** Whether the model endpoint takes `response_format: json_schema`. */
  jsonSchemaFormat?: boolean;
  heartbeatIntervalMs?: number;
  promptsDir?: string;
  /** KEEL_BUILD_ID: the code version recorded with every ledger attempt (default: git). */
  buildId?: string;
  metrics?: KeelMetrics;
  /** Activity results above this many bytes of JSON go to object storage (claim-check). */
  inlinePayloadMaxBytes?: number;
  /** Bounds on document parsing and crashed attempts; unset: DEFAULT_INGEST_LIMITS. */
  ingestLimits?: Partial<IngestLimits>;
  /** Where `notifyOperator` posts when a run pauses on failure; unset → nobody is called. */
  alertWebhook?: AlertWebhook;
  /** The result cache (src/cache); unset: runs neither look up nor store results. */
  cache?: ResultCache;
  /** Seals each run's PII vault (the payload codec's keys); unset: placeholders are never resolved. */
  payloadKeys?: PayloadKeyRing;
}

/** Every activity Keel runs, built once per worker from its clients. */
export function createActivities(deps: ActivityDeps) {
  return {
    ...createSanitizeActivities(deps.db, deps.metrics),
    ...createGuardrailActivities(deps),
    ...createGenerateActivities(deps),
    ...createRunStatusActivities(deps.db, deps.metrics, deps.store, deps.cache),
    ...createRetrieveActivities({ ...deps, embeddingModel: deps.embeddingModel, topK: deps.retrievalTopK ?? 5 }),
    ...createStrategyActivities(deps),
    ...createIngestActivities({ ...deps, embeddingModel: deps.embeddingModel, chunking: deps.chunking ?? { maxTokens: 300, overlapTokens: 50 }, limits: deps.ingestLimits }),
    ...createExtractActivities({ ...deps, jsonSchemaFormat: deps.jsonSchemaFormat ?? true }),
    ...createAlertActivities(deps.alertWebhook),
    ...createCacheActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;

/** The parts of ActivityDeps that come from configuration. */
export function activityOptionsFromConfig(
  config: import('../config').Config,
): Pick<ActivityDeps, 'embeddingModel' | 'chunking' | 'retrievalTopK' | 'jsonSchemaFormat' | 'prices' | 'promptsDir' | 'buildId' | 'ingestLimits' | 'inlinePayloadMaxBytes' | 'payloadKeys'> {
  return {
    payloadKeys: config.KEEL_PAYLOAD_KEYS,
    ingestLimits: {
      maxPages: config.KEEL_DOC_MAX_PAGES,
      maxExpandedBytes: config.KEEL_DOC_MAX_EXPANDED_BYTES,
      maxExpansionRatio: config.KEEL_DOC_MAX_EXPANSION_RATIO,
      maxNesting: config.KEEL_DOC_MAX_NESTING,
      timeoutMs: config.KEEL_DOC_PARSE_TIMEOUT_MS,
      maxHeapMb: config.KEEL_DOC_PARSE_MAX_HEAP_MB,
      concurrency: config.KEEL_DOC_PARSE_CONCURRENCY,
      maxCrashedAttempts: config.KEEL_INGEST_MAX_CRASHED_ATTEMPTS,
    },
    prices: config.KEEL_MODEL_PRICES,
    promptsDir: config.KEEL_PROMPTS_DIR,
    buildId: config.KEEL_BUILD_ID,
    embeddingModel: config.llm.embeddingModel,
    chunking: { maxTokens: config.KEEL_CHUNK_MAX_TOKENS, overlapTokens: config.KEEL_CHUNK_OVERLAP_TOKENS },
    retrievalTopK: config.KEEL_RETRIEVAL_TOP_K,
    jsonSchemaFormat: config.KEEL_MODEL_JSON_SCHEMA,
    inlinePayloadMaxBytes: config.KEEL_INLINE_PAYLOAD_MAX_BYTES,
  };
}
