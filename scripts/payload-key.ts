/**
 * Gives a development machine a payload encryption key, so Temporal histories hold no clear
 * text from the first run on. Idempotent: an existing KEEL_PAYLOAD_KEYS in `.env` is kept.
 * `--rotate` puts a new key in front (it encrypts from then on); older keys stay to decrypt.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generatePayloadKeyEntry, parsePayloadKeys } from '../src/codec/keys';
import { PROJECT_ROOT } from '../src/dev/temporal-cli';

const NAME = 'KEEL_PAYLOAD_KEYS';
const envPath = join(PROJECT_ROOT, '.env');
const lines = existsSync(envPath) ? readFileSync(envPath, 'utf8').split('\n').filter((l) => l !== '') : [];
const current = lines.find((l) => l.startsWith(`${NAME}=`))?.slice(NAME.length + 1) ?? '';
const ring = current ? parsePayloadKeys(current) : undefined;
const rotate = process.argv.includes('--rotate');

if (ring && !rotate) {
  console.log(`Payload encryption key "${ring.current.id}" is in .env (unchanged).`);
} else {
  const id = `k${Date.now().toString(36)}`;
  const value = [generatePayloadKeyEntry(id), ...(current ? [current] : [])].join(',');
  writeFileSync(envPath, [...lines.filter((l) => !l.startsWith(`${NAME}=`)), `${NAME}=${value}`, ''].join('\n'), { mode: 0o600 });
  console.log(`${ring ? 'Rotated to' : 'Created'} payload encryption key "${id}" in .env (${NAME}); restart the API and workers to use it.`);
}
