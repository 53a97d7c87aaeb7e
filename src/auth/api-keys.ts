import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * API keys look like `keel_<prefix>_<secret>`. The prefix is public and finds the row; only a
 * SHA-256 of the whole key is stored. The secrets carry 192 bits, so a fast hash is enough.
 */
const KEY_PATTERN = /^keel_([a-z0-9]{12})_([A-Za-z0-9_-]{32})$/;

export interface NewApiKey {
  key: string;
  prefix: string;
  hash: string;
}

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

export function generateApiKey(): NewApiKey {
  const prefix = randomBytes(9).toString('base64url').toLowerCase().replace(/[^a-z0-9]/g, '0').slice(0, 12);
  const secret = randomBytes(24).toString('base64url');
  const key = `keel_${prefix}_${secret}`;
  return { key, prefix, hash: hashApiKey(key) };
}

export function parseApiKey(key: string): { prefix: string } | undefined {
  const m = KEY_PATTERN.exec(key);
  return m?.[1] ? { prefix: m[1] } : undefined;
}

export function apiKeyMatches(key: string, storedHash: string): boolean {
  const a = Buffer.from(hashApiKey(key), 'hex');
  const b = Buffer.from(storedHash, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}
