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

/** Telling a human that a run needs them: worth a few tries, never worth blocking the pause. */
export const alert: ActivityOptions = {
  startToCloseTimeout: '10s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '10s', maximumAttempts: 4, nonRetryableErrorTypes },
};
