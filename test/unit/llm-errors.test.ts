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
});
