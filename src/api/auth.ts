import type { Request, RequestHandler } from 'express';
import { apiKeyMatches, parseApiKey } from '../auth/api-keys';
import type { Db } from '../db/client';
import { queryRaw } from '../db/raw';
import { Prisma } from '../generated/prisma/client';
import { tenantRunContextFromRow, tenantRunContextSql, type TenantRunContext, type TenantRunContextRow } from '../runs/tenant-context';
import { problems } from './problem';

export interface AuthContext {
  tenantId: string;
  keyId: string;
  scopes: string[];
  /** What starting a run needs about the tenant, read with the key for a request that starts one (`readsRunContext`). */
  runContext?: TenantRunContext;
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
export function authenticate(db: Db, opts: { lastUsedIntervalMs?: number; readsRunContext?: (req: Request) => boolean } = {}): RequestHandler {
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
    // Every request reads its key: a raw statement on the pool, not the ORM's compiled query. A
    // request that starts a run also reads its tenant's run context in that statement, one round
    // trip fewer on `POST /v1/runs` (docs/lean-orchestration.md); it is dropped unread if the key fails.
    const withContext = opts.readsRunContext?.(req) === true;
    const context = withContext ? Prisma.sql`(SELECT to_jsonb(c) FROM (${tenantRunContextSql(Prisma.sql`k.tenant_id`)}) c)` : Prisma.sql`NULL::jsonb`;
    queryRaw<KeyRow>(db, Prisma.sql`SELECT k.id, k.tenant_id, k.hash, k.scopes, k.revoked_at, k.last_used_at, ${context} AS run_context FROM api_key k WHERE k.prefix = ${parsed.prefix}`)
      .then(([row]) => {
        if (!row || row.revoked_at !== null || !apiKeyMatches(key, row.hash)) {
          next(problems.unauthorized('The API key is not valid.'));
          return;
        }
        req.auth = {
          tenantId: row.tenant_id, keyId: row.id, scopes: row.scopes,
          ...(withContext ? { runContext: tenantRunContextFromRow(row.run_context ?? undefined) } : {}),
        };
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
  /** The tenant's `tenantRunContextSql` row as JSON, when asked for (null: not asked, or the tenant row is gone). */
  run_context: TenantRunContextRow | null;
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
