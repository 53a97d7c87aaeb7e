import type { PayloadCodec } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import type { VaultEntry } from './mask';

/**
 * The per-run PII vault: the originals behind a run's placeholders, sealed with the same
 * AES-256-GCM codec (and key ring, rotation included) that encrypts Temporal payloads, so
 * there is one encryption path and one set of keys to manage. The sealed bytes are stored in
 * `run_vault` next to the API key that started the run: only that key gets answers de-masked.
 */
const ENCODING = new TextEncoder().encode('json/plain');

export async function sealVault(codec: PayloadCodec, entries: readonly VaultEntry[]): Promise<Uint8Array> {
  const [sealed] = await codec.encode([{ metadata: { encoding: ENCODING }, data: new TextEncoder().encode(JSON.stringify(entries)) }]);
  return temporal.api.common.v1.Payload.encode(sealed!).finish();
}

export async function openVault(codec: PayloadCodec, bytes: Uint8Array): Promise<VaultEntry[]> {
  const [plain] = await codec.decode([temporal.api.common.v1.Payload.decode(bytes)]);
  return JSON.parse(new TextDecoder().decode(plain?.data ?? new Uint8Array())) as VaultEntry[];
}
