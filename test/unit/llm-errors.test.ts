import assert from 'node:assert/strict';
import { ApplicationFailure } from '@temporalio/common';
import OpenAI from 'openai';
import { retryAfterSeconds, toModelFailure } from '../../src/llm/errors';
import { estimateCostUsd } from '../../src/llm/pricing';

function apiError(status: number, headers: Record<string, string> = {}, code?: string): Error {
  return OpenAI.APIError.generate(status, { error: { message: `status ${status}`, code } }, undefined, new Headers(headers));
}

function failure(err: unknown): ApplicationFailure {
  const f = toModelFailure(err);
  assert.ok(f instanceof ApplicationFailure, `expected an ApplicationFailure, got ${String(f)}`);
  return f;
}

describe('model error translation', () => {
  it('429 is retryable after the provider’s Retry-After', () => {
    const f = failure(apiError(429, { 'retry-after': '2' }));
    assert.equal(f.nonRetryable, false);
    assert.equal(f.type, 'ModelRateLimited');
    assert.equal(f.nextRetryDelay, 2000);
  });

  it('429 for exhausted quota is not retryable', () => {
    const f = failure(apiError(429, {}, 'insufficient_quota'));
    assert.equal(f.nonRetryable, true);
    assert.equal(f.type, 'ModelQuotaExhausted');
  });

  for (const status of [400, 401, 403, 404, 422]) {
    it(`${status} is not retryable`, () => {
      const f = failure(apiError(status));
      assert.equal(f.nonRetryable, true);
      assert.equal(f.type, 'ModelRequestRejected');
    });
  }

  for (const status of [500, 502, 503]) {
    it(`${status} is retryable`, () => {
      const f = failure(apiError(status));
      assert.equal(f.nonRetryable, false);
      assert.equal(f.type, 'ModelServerError');
    });
  }

  it('timeouts, connection errors and malformed bodies are retryable', () => {
    assert.equal(failure(new OpenAI.APIConnectionTimeoutError()).type, 'ModelTimeout');
    assert.equal(failure(new OpenAI.APIConnectionError({ message: 'reset' })).type, 'ModelUnavailable');
    assert.equal(failure(new SyntaxError('Unexpected token')).type, 'ModelMalformedResponse');
  });

  it('reads Retry-After as seconds, as an HTTP date, and retry-after-ms', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    assert.equal(retryAfterSeconds(new Headers({ 'retry-after': '7' }), now), 7);
    assert.equal(retryAfterSeconds(new Headers({ 'retry-after': 'Thu, 01 Jan 2026 00:00:05 GMT' }), now), 5);
    assert.equal(retryAfterSeconds(new Headers({ 'retry-after-ms': '1500' }), now), 1.5);
    assert.equal(retryAfterSeconds(new Headers({ 'retry-after': 'soon' }), now), undefined);
    assert.equal(retryAfterSeconds(undefined, now), undefined);
  });

  it('estimates cost from the price table, and only for priced models', () => {
    const prices = { m: { input: 1, output: 2 } };
    assert.equal(estimateCostUsd(prices, 'm', 1_000_000, 500_000), 2);
    assert.equal(estimateCostUsd(prices, 'unknown', 10, 10), undefined);
  });

  it('keeps 409 and 413 permanent, and names the status and the provider message', () => {
    for (const status of [409, 413]) {
      const f = failure(apiError(status));
      assert.equal(f.nonRetryable, true, String(status));
      assert.equal(f.message, `Model endpoint rejected the request (${status}): ${status} status ${status}`);
    }
    assert.equal(failure(apiError(500)).message, 'Model endpoint error (500): 500 status 500');
    assert.equal(failure(new OpenAI.APIConnectionError({ message: 'reset' })).message, 'Model endpoint unreachable: reset');
    assert.equal(failure(new OpenAI.APIConnectionTimeoutError()).nonRetryable, false);
    assert.equal(failure(new SyntaxError('Unexpected token')).message, 'Model endpoint sent a malformed response: Unexpected token');
  });

  it('a 429 without Retry-After leaves the delay to the retry policy', () => {
    const f = failure(apiError(429));
    assert.equal(f.type, 'ModelRateLimited');
    assert.equal(f.nextRetryDelay, undefined);
    assert.equal(f.message, 'Model endpoint rate-limited the call');
    assert.equal(failure(apiError(429, { 'retry-after': '2.5' })).message, 'Model endpoint rate-limited the call; retry after 2.5s');
    assert.equal(failure(apiError(429, { 'retry-after': '2.5' })).nextRetryDelay, 2500);
    assert.equal(failure(apiError(429, { 'retry-after-ms': '1' })).nextRetryDelay, 1, 'rounded up, never 0');
    assert.equal(failure(apiError(429, {}, 'insufficient_quota')).message, 'Model provider quota exhausted');
  });

  it('passes a cancellation and unknown errors through, and wraps a non-Error', () => {
    const abort = new OpenAI.APIUserAbortError();
    assert.equal(toModelFailure(abort), abort);
    const other = new TypeError('boom');
    assert.equal(toModelFailure(other), other);
    const wrapped = toModelFailure('text');
    assert.ok(wrapped instanceof Error && !(wrapped instanceof ApplicationFailure));
    assert.equal(wrapped.message, 'text');
  });

  it('reads Retry-After strictly: fractions, spaces, past dates, bad retry-after-ms', () => {
    const now = Date.parse('2026-01-01T00:00:10Z');
    assert.equal(retryAfterSeconds(new Headers({ 'retry-after': ' 1.5 ' }), now), 1.5);
    assert.equal(retryAfterSeconds(new Headers({ 'retry-after': 'Thu, 01 Jan 2026 00:00:05 GMT' }), now), 0, 'a past date means now');
    assert.equal(retryAfterSeconds(new Headers({ 'retry-after': '3x' }), now), undefined);
    // Not delta-seconds, so read as a date (V8 takes '-3' for a year in the past): never negative.
    assert.equal(retryAfterSeconds(new Headers({ 'retry-after': '-3' }), now), 0);
    assert.equal(retryAfterSeconds(new Headers({ 'retry-after-ms': 'abc', 'retry-after': '4' }), now), 4);
    assert.equal(retryAfterSeconds(new Headers({ 'retry-after-ms': '-200' }), now), 0);
    assert.equal(retryAfterSeconds(new Headers({}), now), undefined);
    assert.equal(retryAfterSeconds(new Headers({ 'retry-after': '' }), now), undefined);
    const later = Date.now() + 60_000;
    const fromNow = retryAfterSeconds(new Headers({ 'retry-after': new Date(later).toUTCString() }));
    assert.ok(fromNow !== undefined && fromNow > 50 && fromNow <= 60, String(fromNow));
  });

  it('prices input and output tokens separately, per million, to six decimals', () => {
    const prices = { m: { input: 0.15, output: 0.6 } };
    assert.equal(estimateCostUsd(prices, 'm', 1000, 0), 0.00015);
    assert.equal(estimateCostUsd(prices, 'm', 0, 1000), 0.0006);
    assert.equal(estimateCostUsd(prices, 'm', 1, 1), 0.000001);
    assert.equal(estimateCostUsd(prices, 'm', 0, 0), 0);
  });
});
