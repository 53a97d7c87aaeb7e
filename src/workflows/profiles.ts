import { proxyActivities, proxyLocalActivities, type ActivityInterfaceFor, type ActivityOptions, type LocalActivityOptions } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { FailureType, TaskQueue } from '../shared';

/**
 * Named activity profiles: every activity call picks one, so timeouts and retry policy are
 * decided once per kind of work rather than per call site.
 */
const nonRetryableErrorTypes = Object.values(FailureType);

/** Postgres writes: short, and retried long enough to ride out a database restart. */
export const dbWrite: ActivityOptions = {
  startToCloseTimeout: '10s',
  retry: { initialInterval: '200ms', backoffCoefficient: 2, maximumInterval: '5s', maximumAttempts: 30, nonRetryableErrorTypes },
};

/** Input and output checks: CPU-bound and quick; a failure that repeats is a bug, not weather. */
export const guardrail: ActivityOptions = {
  startToCloseTimeout: '10s',
  retry: { initialInterval: '500ms', backoffCoefficient: 2, maximumAttempts: 5, nonRetryableErrorTypes },
};

/**
 * Model calls, on their own task queue so the whole fleet's call rate can be capped there.
 * The HTTP timeout (KEEL_MODEL_TIMEOUT_MS, 30 s) sits below start-to-close; heartbeats carry
 * cancellation to the HTTP request. A 429's Retry-After overrides the backoff per attempt.
 */
export const llmCall: ActivityOptions = {
  taskQueue: TaskQueue.llm,
  startToCloseTimeout: '60s',
  heartbeatTimeout: '10s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 5, nonRetryableErrorTypes },
};

/**
 * Document work on `keel-ingest`: long-running, so it heartbeats with its progress; a dead
 * worker is noticed within the heartbeat timeout and the retry resumes from the last heartbeat.
 */
export const ingestWork: ActivityOptions = {
  taskQueue: TaskQueue.ingest,
  startToCloseTimeout: '30m',
  heartbeatTimeout: '10s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 10, nonRetryableErrorTypes },
};

/** Embedding batches: model calls, so on `keel-llm`, heartbeating per batch. */
export const embedCall: ActivityOptions = { ...llmCall, startToCloseTimeout: '30m' };

/** Telling a human that a run needs them: worth a few tries, never worth blocking the pause. */
export const alert: ActivityOptions = {
  startToCloseTimeout: '10s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '10s', maximumAttempts: 4, nonRetryableErrorTypes },
};

/**
 * Cache lookups and stores. A lookup may wait for an identical run that holds the single-flight
 * lease (KEEL_CACHE_LEASE_MS, 60 s by default), heartbeating while it waits; a cache that fails
 * degrades to a miss inside the activity, so retries here are for worker crashes.
 */
export const cacheCall: ActivityOptions = {
  startToCloseTimeout: '3m',
  heartbeatTimeout: '10s',
  retry: { initialInterval: '500ms', backoffCoefficient: 2, maximumInterval: '5s', maximumAttempts: 3, nonRetryableErrorTypes },
};

/**
 * Every activity's profile and the summary the Temporal Web UI shows for it in a run's event
 * history. Typed over all activities, so a new activity cannot be added without both.
 */
const ACTIVITY_PLAN: { [K in keyof Activities]: { profile: ActivityOptions; summary: string } } = {
  markRunRunning: { profile: dbWrite, summary: 'Record the run as running' },
  markRunNeedsAttention: { profile: dbWrite, summary: 'Record the run as waiting for an operator' },
  markRunResumed: { profile: dbWrite, summary: 'Record the run as resumed' },
  markRunFinished: { profile: dbWrite, summary: 'Record how the run ended' },
  storeResult: { profile: dbWrite, summary: 'Store the result' },
  notifyOperator: { profile: alert, summary: 'Tell an operator the run is paused' },
  sanitizeInput: { profile: guardrail, summary: 'Sanitize the question' },
  guardInput: { profile: guardrail, summary: 'Input guardrails: limits, injection, PII masking' },
  screenContext: { profile: guardrail, summary: 'Context guardrails: drop chunks carrying injections' },
  guardOutput: { profile: guardrail, summary: 'Output guardrails: canary, leaks, safety, brand, groundedness' },
  retrieveContext: { profile: llmCall, summary: "Retrieve context from the tenant's documents" },
  lookupAndRetrieve: { profile: llmCall, summary: "Look up the result cache; on a miss, retrieve context from the tenant's documents" },
  generate: { profile: llmCall, summary: 'Ask the model for the answer' },
  generateCandidate: { profile: llmCall, summary: 'Ask the model for a candidate answer' },
  judgeCandidates: { profile: llmCall, summary: 'Ask the model to judge the candidates' },
  critiqueDraft: { profile: llmCall, summary: 'Ask the model to critique the draft' },
  reviseDraft: { profile: llmCall, summary: 'Ask the model to revise the draft' },
  planExtraction: { profile: dbWrite, summary: 'Split the source into sections' },
  extractSection: { profile: llmCall, summary: 'Ask the model to extract a section' },
  repairExtraction: { profile: llmCall, summary: 'Ask the model to repair an invalid section' },
  mergeSections: { profile: dbWrite, summary: 'Merge and validate the sections' },
  extractText: { profile: ingestWork, summary: 'Extract the text of the document' },
  chunkText: { profile: ingestWork, summary: 'Split the text into chunks' },
  embedChunks: { profile: embedCall, summary: 'Embed the chunks' },
  publishDocument: { profile: dbWrite, summary: 'Publish the document to the corpus' },
  failDocument: { profile: dbWrite, summary: 'Record the document as failed' },
  cacheLookup: { profile: cacheCall, summary: 'Look up the result cache (exact, then semantic)' },
  cacheStore: { profile: cacheCall, summary: 'Store the answer in the result cache' },
  cacheRelease: { profile: cacheCall, summary: "Release this run's single-flight cache lease" },
  extractCacheLookup: { profile: cacheCall, summary: 'Look up the result cache (same source and schema)' },
  extractCacheStore: { profile: cacheCall, summary: 'Store the extraction in the result cache' },
};

/**
 * The activities as workflows call them, each with its own profile and Web UI summary. Each is
 * made when a workflow first calls it: the workflow modules call this as they load, and they load
 * again for every workflow the worker starts, so making all of them for each of five modules cost
 * the workflow thread about 2 ms of CPU per run (docs/lean-orchestration.md).
 */
export function keelActivities(): ActivityInterfaceFor<Activities> {
  const made: Partial<Record<keyof Activities, unknown>> = {};
  return new Proxy({} as ActivityInterfaceFor<Activities>, {
    get(_target, name) {
      if (typeof name !== 'string' || !Object.hasOwn(ACTIVITY_PLAN, name)) return undefined;
      const key = name as keyof Activities;
      const { profile, summary } = ACTIVITY_PLAN[key];
      return (made[key] ??= proxyActivities<Activities>({ ...profile, summary })[key]);
    },
  });
}

/**
 * Bookkeeping that runs as local activities (issue 15, docs/lean-orchestration.md): writes of the
 * run's own row, the cache entry and a failed document's clean-up, quick and idempotent, executed by the worker inside the
 * workflow task that asks for them — no activity task through the server, one marker event instead
 * of three. Steps that call a model, retrieve or check stay normal activities, each visible in the
 * Web UI with its summary; these show as markers with the same summaries.
 */
const LOCAL_BOOKKEEPING = ['markRunRunning', 'markRunFinished', 'storeResult', 'cacheStore', 'failDocument'] as const;
type LocalBookkeeping = Pick<Activities, (typeof LOCAL_BOOKKEEPING)[number]>;

/** The same patience as `dbWrite`; retries past a minute wait on a server timer instead of in the worker. */
const localDbWrite: LocalActivityOptions = { startToCloseTimeout: dbWrite.startToCloseTimeout, retry: dbWrite.retry, localRetryThreshold: '10s' };

/** The bookkeeping activities as local activities, each with its Web UI summary. */
export function keelLocalActivities(): ActivityInterfaceFor<LocalBookkeeping> {
  const entries = LOCAL_BOOKKEEPING.map((name) => [name, proxyLocalActivities<LocalBookkeeping>({ ...localDbWrite, summary: ACTIVITY_PLAN[name].summary })[name]]);
  return Object.fromEntries(entries) as ActivityInterfaceFor<LocalBookkeeping>;
}
