import { randomBytes } from 'node:crypto';

/** One AES-256 key and the id that names it in encrypted payloads' metadata. */
export interface PayloadKey {
  id: string;
  key: Buffer;
}

/**
 * The payload keys, newest first: the first encrypts, every one decrypts. Rotation is "put a new
 * key in front": histories written under an older key stay readable while it is listed.
 */
export interface PayloadKeyRing {
  current: PayloadKey;
  byId: ReadonlyMap<string, Buffer>;
}

const KEY_ID = /^[A-Za-z0-9._-]{1,64}$/;

/** Parses `kid1:base64key,kid2:base64key`; throws a message naming the bad entry, never the key. */
export function parsePayloadKeys(spec: string): PayloadKeyRing | undefined {
  const entries = spec.split(',').map((s) => s.trim()).filter(Boolean);
  if (entries.length === 0) return undefined;
  const keys = entries.map((entry, index): PayloadKey => {
    const colon = entry.indexOf(':');
    const id = colon > 0 ? entry.slice(0, colon) : '';
    if (!KEY_ID.test(id)) throw new Error(`entry ${index + 1} needs the form <key id>:<base64 key>, with a key id of [A-Za-z0-9._-]`);
    const key = Buffer.from(entry.slice(colon + 1), 'base64');
    if (key.length !== 32) throw new Error(`key "${id}" must be 32 bytes (AES-256), base64-encoded; it is ${key.length} bytes`);
    return { id, key };
  });
  const byId = new Map<string, Buffer>();
  for (const k of keys) {
    if (byId.has(k.id)) throw new Error(`key id "${k.id}" is listed twice`);
    byId.set(k.id, k.key);
  }
  return { current: keys[0]!, byId };
}

/** A fresh `<id>:<base64 key>` entry, for set-up and for rotation. */
export function generatePayloadKeyEntry(id = `k${new Date().toISOString().slice(0, 10).replaceAll('-', '')}`): string {
  return `${id}:${randomBytes(32).toString('base64')}`;
}
