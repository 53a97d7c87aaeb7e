import { z } from 'zod';
import { parsePayloadKeys } from './codec/keys';
import { DEFAULT_PARSE_CONCURRENCY } from './documents/sandbox';

/**
 * Every setting Keel reads from the environment, parsed once at boot. Defaults work on a
 * developer machine with the stack from `npm start`. A typo or a bad value fails fast with
 * the variable's name.
 */
const port = z.coerce.number().int().min(0).max(65535);
const positiveInt = z.coerce.number().int().positive();
const csv = z
  .string()
  .transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean));

export const TASK_QUEUE_NAMES = ['keel-workflows', 'keel-llm', 'keel-ingest'] as const;

export const ConfigSchema = z.object({
  NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),

  KEEL_API_HOST: z.string().default('127.0.0.1'),
  KEEL_API_PORT: port.default(3000),
  KEEL_PUBLIC_URL: z.url().optional(),
  KEEL_MAX_BODY_BYTES: positiveInt.default(1_048_576),
  /** Express `trust proxy`: which hops may set X-Forwarded-For (e.g. `uniquelocal` behind nginx). */
  KEEL_TRUST_PROXY: z.string().default('loopback'),
  KEEL_RATE_LIMIT_PER_MINUTE: positiveInt.default(600),
  KEEL_MAX_INFLIGHT_RUNS_PER_TENANT: positiveInt.default(100),
  KEEL_REQUEST_TIMEOUT_MS: positiveInt.default(30_000),
  /** An API key's `lastUsedAt` is written at most once per this interval (one conditional UPDATE). */
  KEEL_KEY_LAST_USED_INTERVAL_MS: z.coerce.number().int().min(0).default(300_000),
  /** Origins allowed to call the API from a browser; empty: no CORS headers, `*`: any origin. */
  KEEL_CORS_ORIGINS: csv.default([]),
  KEEL_REDIS_PREFIX: z.string().default('keel:'),

  DATABASE_URL: z.string().startsWith('postgres').default('postgresql://postgres@127.0.0.1:5432/keel'),
  REDIS_URL: z.string().startsWith('redis').default('redis://127.0.0.1:6379'),

  TEMPORAL_ADDRESS: z.string().default('127.0.0.1:7233'),
  TEMPORAL_NAMESPACE: z.string().default('default'),
  TEMPORAL_UI_URL: z.url().default('http://localhost:8233'),
  TEMPORAL_UI_PORT: port.default(8233),

  KEEL_DATA_DIR: z.string().default('.data'),
  KEEL_WORKER_TASK_QUEUES: csv
    .pipe(z.array(z.enum(TASK_QUEUE_NAMES)).min(1))
    .default([...TASK_QUEUE_NAMES]),
  KEEL_WORKER_MAX_CONCURRENT_ACTIVITIES: positiveInt.default(100),
  KEEL_LLM_MAX_PER_SECOND: z.coerce.number().positive().optional(),
  /** Both below the usual 30 s between SIGTERM and SIGKILL (compose stop_grace_period, Kubernetes). */
  KEEL_WORKER_SHUTDOWN_GRACE_MS: z.coerce.number().int().min(0).default(25_000),
  /** How often each worker brings run rows in line with Temporal's visibility (src/runs/reconciler.ts); 0 = never. */
  KEEL_RECONCILE_INTERVAL_MS: z.coerce.number().int().min(0).default(2_000),
  KEEL_API_SHUTDOWN_GRACE_MS: z.coerce.number().int().min(0).default(20_000),

  /** `kid:base64key,…`, newest first: the first encrypts Temporal payloads, all decrypt. */
  KEEL_PAYLOAD_KEYS: z
    .string()
    .transform((s, ctx) => {
      try {
        return parsePayloadKeys(s);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: err instanceof Error ? err.message : String(err) });
        return z.NEVER;
      }
    })
    .optional(),

  /** When set, `/metrics` on the API port needs `Authorization: Bearer <token>`. */
  KEEL_METRICS_TOKEN: z.string().min(16).optional(),
  KEEL_WORKER_METRICS_HOST: z.string().default('127.0.0.1'),
  KEEL_WORKER_METRICS_PORT: port.default(9464),
  /** The Temporal SDK's own Prometheus exporter, bound to 127.0.0.1 and merged into the worker's /metrics; 0 turns it off. */
  KEEL_TEMPORAL_METRICS_PORT: port.default(9465),

  /** Tracing is off unless one of these standard OpenTelemetry variables asks for it. */
  OTEL_TRACES_EXPORTER: z.enum(['otlp', 'console', 'none']).optional(),
  OTEL_EXPORTER_OTLP_ENDPOINT: z.url().optional(),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: z.url().optional(),

  OPENAI_BASE_URL: z.url().optional(),
  OPENAI_API_KEY: z.string().optional(),
  KEEL_MODEL: z.string().optional(),
  KEEL_MODEL_TIMEOUT_MS: positiveInt.default(30_000),
  /** Prompt templates (`<id>.md`, variants `<id>@<variant>.md`); relative to the project root unless absolute. */
  KEEL_PROMPTS_DIR: z.string().min(1).default('prompts'),
  /** The code's version, recorded with every run and ledger attempt; unset → the git commit (`npm start` sets it). */
  /** Drift: trailing window (days) and threshold (standard deviations); the worker checks every KEEL_DRIFT_INTERVAL_MS (0: never). */
  KEEL_DRIFT_WINDOW_DAYS: z.coerce.number().int().min(3).max(90).default(7),
  KEEL_DRIFT_SIGMA: z.coerce.number().gt(0).default(3),
  KEEL_DRIFT_INTERVAL_MS: z.coerce.number().int().min(0).default(300_000),
  KEEL_BUILD_ID: z.string().regex(/^[\w.+-]{1,64}$/).optional(),
  /** USD per million tokens, by model: `{"gpt-4o-mini":{"input":0.15,"output":0.6}}`. */
  KEEL_MODEL_PRICES: z
    .string()
    .transform((s, ctx) => {
      try {
        return JSON.parse(s) as unknown;
      } catch {
        ctx.addIssue({ code: 'custom', message: 'must be JSON' });
        return z.NEVER;
      }
    })
    .pipe(z.record(z.string(), z.object({ input: z.number().min(0), output: z.number().min(0) })))
    .default({ 'keel-offline-1': { input: 0, output: 0 }, 'gpt-4o-mini': { input: 0.15, output: 0.6 } }),

  KEEL_MAX_UPLOAD_BYTES: positiveInt.default(50 * 1024 * 1024),
  /** Object storage: a directory under KEEL_DATA_DIR unless an S3 bucket is configured. */
  KEEL_S3_BUCKET: z.string().optional(),
  KEEL_S3_ENDPOINT: z.url().optional(),
  KEEL_S3_REGION: z.string().default('us-east-1'),
  KEEL_S3_ACCESS_KEY_ID: z.string().optional(),
  KEEL_S3_SECRET_ACCESS_KEY: z.string().optional(),
  KEEL_S3_FORCE_PATH_STYLE: z.enum(['true', 'false']).default('true').transform((v) => v === 'true'),
  /** Embedding model; unset with a real endpoint means lexical retrieval only. */
  KEEL_EMBEDDING_MODEL: z.string().optional(),
  /**
   * Bounds on document parsing (README "Security: bounds and hostile input"): a document past one
   * fails its ingest at once with DocumentRejected and the bound's name as its reason.
   */
  KEEL_DOC_MAX_PAGES: positiveInt.default(2_000),
  KEEL_DOC_MAX_EXPANDED_BYTES: positiveInt.default(200 * 1024 * 1024),
  KEEL_DOC_MAX_EXPANSION_RATIO: positiveInt.default(100),
  KEEL_DOC_MAX_NESTING: positiveInt.default(500),
  KEEL_DOC_PARSE_TIMEOUT_MS: positiveInt.default(180_000),
  KEEL_DOC_PARSE_MAX_HEAP_MB: z.coerce.number().int().min(16).default(1_024),
  KEEL_DOC_PARSE_CONCURRENCY: positiveInt.default(DEFAULT_PARSE_CONCURRENCY),
  /** Attempts of an ingest step that may die with their worker before the step fails for good. */
  KEEL_INGEST_MAX_CRASHED_ATTEMPTS: positiveInt.default(2),
  KEEL_CHUNK_MAX_TOKENS: positiveInt.default(300),
  KEEL_CHUNK_OVERLAP_TOKENS: z.coerce.number().int().min(0).default(50),
  KEEL_RETRIEVAL_TOP_K: positiveInt.default(5),
  /** Activity results above this many bytes of JSON go to object storage; workflows carry the key (claim-check). */
  KEEL_INLINE_PAYLOAD_MAX_BYTES: positiveInt.default(32_768),
  /** Bounds on extraction schemas (src/extraction/schema-guard.ts); a schema over one is a 400. */
  KEEL_SCHEMA_MAX_BYTES: positiveInt.default(131_072),
  KEEL_SCHEMA_MAX_DEPTH: positiveInt.default(32),
  KEEL_SCHEMA_MAX_PROPERTIES: positiveInt.default(1_000),
  KEEL_SCHEMA_MAX_LOWER_BOUND: positiveInt.default(10_000),
  /** Limits on answer strategies a request may ask for. */
  KEEL_MAX_CANDIDATES: positiveInt.default(5),
  KEEL_MAX_REFINE_ROUNDS: positiveInt.default(3),
  /** Whether the endpoint takes `response_format: json_schema` (else JSON mode plus the schema in the prompt). */
  KEEL_MODEL_JSON_SCHEMA: z.enum(['true', 'false']).default('true').transform((v) => v === 'true'),
  /** Called (HMAC-signed) when a run pauses on failure and needs an operator. */
  KEEL_ALERT_WEBHOOK_URL: z.url().optional(),
  KEEL_ALERT_WEBHOOK_SECRET: z.string().min(16).optional(),

  /** Result cache (src/cache, docs/caching.md); a tenant's own settings override TTL and threshold. */
  KEEL_CACHE_TTL_SECONDS: positiveInt.default(86_400),
  KEEL_CACHE_SIMILARITY_THRESHOLD: z.coerce.number().min(0).max(1).default(0.955),
  KEEL_CACHE_SEMANTIC_MAX_TEMPERATURE: z.coerce.number().min(0).max(2).default(0),
  KEEL_CACHE_LEASE_MS: positiveInt.default(60_000),
  KEEL_CACHE_SEMANTIC_MAX_ENTRIES: positiveInt.default(200_000),
  KEEL_CACHE_PARTITIONS_IN_MEMORY: positiveInt.default(64),

  KEEL_OFFLINE_MODEL_HOST: z.string().default('127.0.0.1'),
  KEEL_OFFLINE_MODEL_PORT: port.default(4010),
  KEEL_OFFLINE_MODEL_LATENCY_MS: z.coerce.number().int().min(0).default(0),
  KEEL_OFFLINE_MODEL_FAULTS: z.string().default(''),
});

export type Config = z.infer<typeof ConfigSchema> & {
  /** Where model calls go: the configured endpoint, or the bundled offline server. */
  readonly llm: {
    readonly baseURL: string;
    readonly apiKey: string;
    readonly model: string;
    readonly embeddingModel: string | undefined;
    readonly offline: boolean;
  };
};

export const OFFLINE_MODEL = 'keel-offline-1';
/** The offline server's real embedding model (src/model-server/sentence-embedder.ts). */
export const OFFLINE_EMBEDDING_MODEL = 'multilingual-e5-small';

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // Empty strings in .env mean "not set".
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = ConfigSchema.safeParse(cleaned);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
  }
  const c = parsed.data;
  const offline = c.OPENAI_BASE_URL === undefined && c.OPENAI_API_KEY === undefined;
  const llm = offline
    ? {
        baseURL: `http://${c.KEEL_OFFLINE_MODEL_HOST}:${c.KEEL_OFFLINE_MODEL_PORT}/v1`,
        apiKey: 'offline',
        model: c.KEEL_MODEL ?? OFFLINE_MODEL,
        embeddingModel: c.KEEL_EMBEDDING_MODEL ?? OFFLINE_EMBEDDING_MODEL,
        offline: true,
      }
    : {
        baseURL: c.OPENAI_BASE_URL ?? 'https://api.openai.com/v1',
        apiKey: c.OPENAI_API_KEY ?? 'none',
        model: c.KEEL_MODEL ?? 'gpt-4o-mini',
        embeddingModel: c.KEEL_EMBEDDING_MODEL,
        offline: false,
      };
  return { ...c, llm };
}
