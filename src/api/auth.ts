import type { RequestHandler } from 'express';
import { apiKeyMatches, parseApiKey } from '../auth/api-keys';
import type { Db } from '../db/client';
import { queryRaw } from '../db/raw';
import { Prisma } from '../generated/prisma/client';
import { problems } from './problem';

export interface AuthContext {
  tenantId: string;
  keyId: string;
  scopes: string[];
}

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      auth?: AuthContext;
    }
  }
}

/**
 * Bearer-key authentication. The key decides the tenant; every handler behind this reads
 * `req.auth.tenantId` and scopes its queries with it. Unknown, malformed and revoked keys get
 * the same answer, so the response tells an attacker nothing.
 */
export function authenticate(db: Db, opts: { lastUsedIntervalMs?: number } = {}): RequestHandler {
  const interval = opts.lastUsedIntervalMs ?? DEFAULT_LAST_USED_INTERVAL_MS;
  return (req, _res, next) => {
    const header = req.headers.authorization;
    const match = header ? /^Bearer\s+(\S+)$/i.exec(header) : null;
    const key = match?.[1];
    const parsed = key ? parseApiKey(key) : undefined;
    if (!key || !parsed) {
      next(problems.unauthorized());
      return;
    }
    // Every request reads its key: a raw statement on the pool, not the ORM's compiled query
    // (docs/lean-orchestration.md).
    queryRaw<KeyRow>(db, Prisma.sql`SELECT id, tenant_id, hash, scopes, revoked_at, last_used_at FROM api_key WHERE prefix = ${parsed.prefix}`)
      .then(([row]) => {
        if (!row || row.revoked_at !== null || !apiKeyMatches(key, row.hash)) {
          next(problems.unauthorized('The API key is not valid.'));
          return;
        }
        req.auth = { tenantId: row.tenant_id, keyId: row.id, scopes: row.scopes };
        touchLastUsed(db, row.id, row.last_used_at, interval);
        next();
      })
      .catch(next);
  };
}

interface KeyRow {
  id: string;
  tenant_id: string;
  hash: string;
  scopes: string[];
  revoked_at: Date | null;
  last_used_at: Date | null;
}

export const DEFAULT_LAST_USED_INTERVAL_MS = 5 * 60_000;

/**
 * `lastUsedAt` to within `interval`, without a write per request: nothing when the row we just
 * read is fresh, else one conditional UPDATE that only the first of concurrent requests (on any
 * API process) wins. Off the request's path: a failed write costs a stale timestamp, not a 500.
 */
function touchLastUsed(db: Db, keyId: string, lastUsedAt: Date | null, interval: number): void {
  const now = new Date();
  if (lastUsedAt && now.getTime() - lastUsedAt.getTime() < interval) return;
  const stale = new Date(now.getTime() - interval);
  void db.apiKey
    .updateMany({ where: { id: keyId, OR: [{ lastUsedAt: null }, { lastUsedAt: { lt: stale } }] }, data: { lastUsedAt: now } })
    .catch(() => undefined);
}

export function requireAuth(req: { auth?: AuthContext }): AuthContext {
  if (!req.auth) throw problems.unauthorized();
  return req.auth;
}
