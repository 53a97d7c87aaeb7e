import { ApplicationFailure } from '@temporalio/common';
import { createHmac } from 'node:crypto';
import type { RunError } from './run-status';

export interface AlertWebhook {
  url: string;
  /** Signs each call; without it the call is unsigned. */
  secret?: string;
}

export const SIGNATURE_HEADER = 'x-keel-signature';
export const TIMESTAMP_HEADER = 'x-keel-timestamp';

/**
 * `sha256=<hex HMAC of "<timestamp>.<body>">`, the scheme Stripe and GitHub receivers know: the
 * timestamp is signed too, so a captured call can't be replayed later under a fresh date.
 */
export function signAlert(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

export function createAlertActivities(webhook: AlertWebhook | undefined) {
  return {
    /** Tells a human that a run is paused on failure and waits for `resume`. */
    async notifyOperator(input: { runId: string; tenantId: string; step: string; error: RunError }): Promise<{ delivered: boolean }> {
      if (!webhook) return { delivered: false };
      const body = JSON.stringify({ event: 'run.needs_attention', runId: input.runId, tenantId: input.tenantId, step: input.step, error: input.error });
      const timestamp = String(Math.floor(Date.now() / 1000));
      const headers: Record<string, string> = { 'content-type': 'application/json', [TIMESTAMP_HEADER]: timestamp };
      if (webhook.secret) headers[SIGNATURE_HEADER] = signAlert(webhook.secret, timestamp, body);
      const res = await fetch(webhook.url, { method: 'POST', headers, body, signal: AbortSignal.timeout(5000) });
      await res.body?.cancel();
      if (res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429) {
        throw ApplicationFailure.nonRetryable(`Alert webhook rejected the call (${res.status})`, 'AlertRejected');
      }
      if (!res.ok) throw ApplicationFailure.retryable(`Alert webhook answered ${res.status}`, 'AlertUnavailable');
      return { delivered: true };
    },
  };
}
