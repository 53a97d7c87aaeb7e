import type { PayloadCodec } from '@temporalio/common';
import { temporal } from '@temporalio/proto';

const JSON_ENCODING = new TextEncoder().encode('json/plain');

/**
 * Cache values and vectors go to Redis sealed by the same codec that encrypts Temporal payloads
 * (AES-256-GCM under KEEL_PAYLOAD_KEYS, src/codec): one key ring, one rotation story, no second
 * crypto helper. A value is wrapped as a Temporal payload, encoded by the codec and stored as the
 * payload's protobuf bytes. Without payload keys the codec is absent and values are stored as
 * plain payloads, as Temporal's are.
 */
export class Sealer {
  constructor(private readonly codec: PayloadCodec | undefined) {}

  get encrypted(): boolean {
    return this.codec !== undefined;
  }

  async seal(value: unknown): Promise<Buffer> {
    let payload: temporal.api.common.v1.IPayload = { metadata: { encoding: JSON_ENCODING }, data: Buffer.from(JSON.stringify(value)) };
    if (this.codec) payload = (await this.codec.encode([payload]))[0] ?? payload;
    return Buffer.from(temporal.api.common.v1.Payload.encode(payload).finish());
  }

  /** Throws when the bytes were sealed under a key that is no longer listed, or were tampered with. */
  async unseal<T>(bytes: Buffer): Promise<T> {
    let payload: temporal.api.common.v1.IPayload = temporal.api.common.v1.Payload.decode(bytes);
    if (this.codec) payload = (await this.codec.decode([payload]))[0] ?? payload;
    return JSON.parse(Buffer.from(payload.data ?? new Uint8Array()).toString('utf8')) as T;
  }
}
