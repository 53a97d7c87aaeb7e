/**
 * Seeds the default tenant and a development API key. The key is printed once and written to
 * the git-ignored `.env` as KEEL_API_KEY so the README's curl examples work. Idempotent: a key
 * already in `.env` that still works is kept.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { apiKeyMatches, generateApiKey, parseApiKey } from '../src/auth/api-keys';
import { loadConfig } from '../src/config';
import { createPrisma } from '../src/db/client';
import { PROJECT_ROOT } from '../src/dev/temporal-cli';

export const DEFAULT_TENANT = 'default';
export const DEV_KEY_SCOPES = ['runs:write', 'runs:read', 'documents:write', 'operator', 'admin'];

function upsertEnvLine(path: string, name: string, value: string): void {
  const lines = existsSync(path) ? readFileSync(path, 'utf8').split('\n') : [];
  const kept = lines.filter((l) => !l.startsWith(`${name}=`) && l !== '');
  writeFileSync(path, [...kept, `${name}=${value}`, ''].join('\n'), { mode: 0o600 });
}

async function main(): Promise<void> {
  const config = loadConfig();
  const db = createPrisma(config.DATABASE_URL);
  try {
    const tenant = await db.tenant.upsert({
      where: { name: DEFAULT_TENANT },
      create: { id: randomUUID(), name: DEFAULT_TENANT },
      update: {},
    });
    const existing = process.env.KEEL_API_KEY;
    const parsed = existing ? parseApiKey(existing) : undefined;
    if (existing && parsed) {
      const row = await db.apiKey.findUnique({ where: { prefix: parsed.prefix } });
      if (row && row.revokedAt === null && row.tenantId === tenant.id && apiKeyMatches(existing, row.hash)) {
        console.log(`Development API key keel_${parsed.prefix}_… is in .env (unchanged).`);
        return;
      }
    }
    const key = generateApiKey();
    await db.apiKey.create({
      data: { id: randomUUID(), tenantId: tenant.id, name: 'development', prefix: key.prefix, hash: key.hash, scopes: DEV_KEY_SCOPES },
    });
    upsertEnvLine(join(PROJECT_ROOT, '.env'), 'KEEL_API_KEY', key.key);
    console.log(`Created a development API key for tenant "${DEFAULT_TENANT}" (shown once; also saved in .env as KEEL_API_KEY):\n\n  ${key.key}\n`);
  } finally {
    await db.$disconnect();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
