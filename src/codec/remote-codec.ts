import type { Payload } from '@temporalio/common';
import { z } from 'zod';
import { storableString } from '../schemas/strings';

/**
 * The wire format of Temporal's remote codec protocol (`POST <endpoint>/decode` and `/encode`),
 * shared by the API's authenticated `/codec` routes and the loopback-only development endpoint
 * that `npm start` gives the Web UI (src/dev/ui-codec-server.ts).
 */
const base64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, 'must be base64');
// Closed objects with storable keys: the document then allows nothing the API refuses (see src/schemas/strings.ts).
export const JsonPayload = z.object({ metadata: z.record(storableString(), base64).optional(), data: base64.optional() }).strict();
export type JsonPayload = z.infer<typeof JsonPayload>;
export const CodecPayloads = z.object({ payloads: z.array(JsonPayload).max(1000) }).strict().meta({ id: 'CodecPayloads' });
export type CodecPayloads = z.infer<typeof CodecPayloads>;

export function fromJson(p: JsonPayload): Payload {
  return {
    metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
    data: Buffer.from(p.data ?? '', 'base64'),
  };
}

export function toJson(p: Payload): JsonPayload {
  return {
    metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v ?? new Uint8Array()).toString('base64')])),
    data: Buffer.from(p.data ?? new Uint8Array()).toString('base64'),
  };
}
