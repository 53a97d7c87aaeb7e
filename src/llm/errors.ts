import { ApplicationFailure } from '@temporalio/common';
import OpenAI from 'openai';
import { FailureType } from '../shared';

/** HTTP statuses a provider uses for "this request will never work": retrying only bills again. */
const PERMANENT_STATUSES = new Set([400, 401, 403, 404, 409, 413, 422]);

/** Seconds from a Retry-After header (delta-seconds or HTTP date), or from retry-after-ms. */
export function retryAfterSeconds(headers: Headers | undefined, now: number = Date.now()): number | undefined {
  if (!headers) return undefined;
  const ms = headers.get('retry-after-ms');
  if (ms && Number.isFinite(Number(ms))) return Math.max(0, Number(ms) / 1000);
  const value = headers.get('retry-after');
  if (!value) return undefined;
  if (/^\d+(\.\d+)?$/.test(value.trim())) return Number(value);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, (date - now) / 1000);
}

/**
 * Translates a provider error into Temporal's language: retry (with the provider's own delay
 * when it gave one) or don't. This is the only place that knows the SDK's error classes.
 */
export function toModelFailure(err: unknown): Error {
  if (err instanceof OpenAI.APIUserAbortError) return err;
  if (err instanceof OpenAI.APIConnectionTimeoutError) {
    return ApplicationFailure.retryable('Model endpoint timed out', 'ModelTimeout');
  }
  if (err instanceof OpenAI.APIConnectionError) {
    return ApplicationFailure.retryable(`Model endpoint unreachable: ${err.message}`, 'ModelUnavailable');
  }
  if (err instanceof OpenAI.RateLimitError) {
    if (err.code === 'insufficient_quota') {
      return ApplicationFailure.nonRetryable('Model provider quota exhausted', FailureType.modelQuotaExhausted);
    }
    const seconds = retryAfterSeconds(err.headers);
    return ApplicationFailure.create({
      type: 'ModelRateLimited',
      message: `Model endpoint rate-limited the call${seconds !== undefined ? `; retry after ${seconds}s` : ''}`,
      nextRetryDelay: seconds !== undefined ? Math.ceil(seconds * 1000) : undefined,
    });
  }
  if (err instanceof OpenAI.APIError) {
    const status: number | undefined = typeof err.status === 'number' ? err.status : undefined;
    if (status !== undefined && PERMANENT_STATUSES.has(status)) {
      return ApplicationFailure.nonRetryable(
        `Model endpoint rejected the request (${status}): ${err.message}`,
        FailureType.modelRequestRejected,
      );
    }
    return ApplicationFailure.retryable(`Model endpoint error (${status ?? 'no status'}): ${err.message}`, 'ModelServerError');
  }
  if (err instanceof SyntaxError) {
    return ApplicationFailure.retryable(`Model endpoint sent a malformed response: ${err.message}`, 'ModelMalformedResponse');
  }
  return err instanceof Error ? err : new Error(String(err));
}
