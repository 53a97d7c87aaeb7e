import { createHash } from 'node:crypto';
import type { ObjectStore } from './object-store';

/**
 * Claim-check for workflow payloads: values proportional to a document or a model's output go to
 * object storage and workflows carry the key. Temporal refuses a gRPC message over 4 MB and keeps
 * every activity input and output in history, so only small values ride inline.
 */

/** Values up to this many bytes of JSON travel inline in activity inputs and outputs. */
export const DEFAULT_INLINE_PAYLOAD_MAX_BYTES = 32_768;

/** Where an extract run's inline text is kept: content-addressed per tenant, so a retried request reuses it. */
export function extractTextKey(tenantId: string, text: string): string {
  const sha256 = createHash('sha256').update(text).digest('hex');
  return `tenants/${tenantId}/extract-text/sha256/${sha256.slice(0, 2)}/${sha256}.txt`;
}

/** A run's own large intermediate results. */
export function runObjectKey(tenantId: string, runId: string, name: string): string {
  return `tenants/${tenantId}/runs/${encodeURIComponent(runId)}/${name}.json`;
}

/** Refuses a key outside the tenant's prefix: an activity never reads another tenant's objects. */
export function assertTenantKey(tenantId: string, key: string): void {
  if (!key.startsWith(`tenants/${tenantId}/`) || key.includes('..')) throw new Error(`Object key ${key} is not in tenant ${tenantId}'s storage`);
}

export async function readJson<T>(store: ObjectStore, tenantId: string, key: string): Promise<T> {
  assertTenantKey(tenantId, key);
  return JSON.parse((await store.get(key)).toString('utf8')) as T;
}

/** Stores `value` under `key` when its JSON exceeds `maxInline` bytes; returns the key, or undefined when it fits inline. */
export async function checkInIfLarge(store: ObjectStore, key: string, value: unknown, maxInline: number): Promise<string | undefined> {
  const json = JSON.stringify(value);
  if (Buffer.byteLength(json) <= maxInline) return undefined;
  await store.put(key, Buffer.from(json), 'application/json');
  return key;
}
