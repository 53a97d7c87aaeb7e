import type { Request } from 'express';
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { IdempotencyKey } from '../schemas/operator';
import { HttpProblem, problems } from './problem';
import { issuesOf } from './validate';

export const IDEMPOTENCY_HEADER = 'idempotency-key';

/** For the OpenAPI document; `readIdempotencyKey` is what parses the header. */
export const CreateRunHeaders = z.object({
  // No example: Swagger UI's try-it-out would send it, and every second try (and every user of the
  // tenant) would collide on one key. Clients make a fresh key per logical request (a UUID).
  'Idempotency-Key': IdempotencyKey.optional().meta({
    description: 'Optional; a fresh value (e.g. a UUID) per logical request. The same key and body give the same run, never a second workflow; the same key with another body is a 409.',
  }),
});

/** The `Idempotency-Key` header, validated; undefined when the client sent none. */
export function readIdempotencyKey(req: Request): string | undefined {
  const raw = req.headers[IDEMPOTENCY_HEADER];
  if (raw === undefined) return undefined;
  const parsed = IdempotencyKey.safeParse(raw);
  if (!parsed.success) {
    throw problems.validation(issuesOf(parsed.error).map((i) => ({ ...i, path: 'Idempotency-Key' })), 'header');
  }
  return parsed.data;
}

/**
 * The run (and workflow) id for a tenant's idempotency key: a UUIDv8 from SHA-256, so every
 * request with the key names the same workflow and Temporal's id policies, not a read-then-write
 * check, decide that only one ever starts.
 */
export function idempotentRunId(tenantId: string, key: string): string {
  const hex = createHash('sha256').update(`keel-run\n${tenantId}\n${key}`).digest('hex').slice(0, 32).split('');
  hex[12] = '8';
  hex[16] = ((parseInt(hex[16] ?? '0', 16) & 0x3) | 0x8).toString(16);
  const h = hex.join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export function idempotencyKeyReused(): HttpProblem {
  return new HttpProblem(
    409,
    'idempotency-key-reused',
    'Idempotency key reused',
    'This Idempotency-Key was already used with a different request body; use a new key for a new request.',
  );
}
