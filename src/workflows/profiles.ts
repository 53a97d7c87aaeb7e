import type { ActivityOptions } from '@temporalio/workflow';
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
