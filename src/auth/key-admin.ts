import { randomUUID } from 'node:crypto';
import type { Db } from '../db/client';
import type { ApiKey } from '../generated/prisma/client';
import type { ApiKeyView } from '../schemas/api-keys';
import { generateApiKey } from './api-keys';
import type { Scope } from './scopes';

/** Key management shared by the admin API and `npm run keys`; every call is scoped to one tenant. */
export function apiKeyView(row: ApiKey): ApiKeyView {
  return {
    id: row.id,
    name: row.name,
    prefix: row.prefix,
    scopes: row.scopes,
    createdAt: row.createdAt.toISOString(),
    revokedAt: row.revokedAt?.toISOString() ?? null,
    lastUsedAt: row.lastUsedAt?.toISOString() ?? null,
  };
}

export async function createApiKey(db: Db, tenantId: string, name: string, scopes: readonly Scope[]): Promise<ApiKeyView & { key: string }> {
  const key = generateApiKey();
  const row = await db.apiKey.create({
    data: { id: randomUUID(), tenantId, name, prefix: key.prefix, hash: key.hash, scopes: [...scopes] },
  });
  return { ...apiKeyView(row), key: key.key };
}

export async function listApiKeys(db: Db, tenantId: string): Promise<ApiKeyView[]> {
  const rows = await db.apiKey.findMany({ where: { tenantId }, orderBy: [{ createdAt: 'desc' }, { id: 'desc' }] });
  return rows.map(apiKeyView);
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Revokes a key of `tenantId` by id or public prefix; undefined if the tenant has no such key.
 * Idempotent: revoking a revoked key keeps its first revocation time. Auth reads the row on every
 * request, so the key stops working on every API process as soon as this commits.
 */
export async function revokeApiKey(db: Db, tenantId: string | undefined, idOrPrefix: string): Promise<ApiKeyView | undefined> {
  const where = UUID.test(idOrPrefix) ? { id: idOrPrefix } : { prefix: idOrPrefix };
  const row = await db.apiKey.findFirst({ where: { ...where, ...(tenantId ? { tenantId } : {}) } });
  if (!row) return undefined;
  await db.apiKey.updateMany({ where: { id: row.id, revokedAt: null }, data: { revokedAt: new Date() } });
  const after = await db.apiKey.findUniqueOrThrow({ where: { id: row.id } });
  return apiKeyView(after);
}
