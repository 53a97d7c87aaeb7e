import type { Db } from '../db/client';
import { queryRaw } from '../db/raw';
import { Prisma } from '../generated/prisma/client';
import { TENANT_CACHE_COLUMNS, TENANT_CACHE_JOINS, type TenantCacheRow } from '../cache';
import { tenantOnFailurePolicy } from '../api/run-policy';
import { releasePolicyView, type ReleasePolicyView } from '../trace/release';
import type { OnFailurePolicy } from '../shared';

/** What starting a run needs to know about its tenant. */
export interface TenantRunContext {
  /** The latest release policy, or null when the tenant has none. */
  release: ReleasePolicyView | null;
  corpusVersion: number;
  /** The tenant's default for requests that do not choose one. */
  onFailure: OnFailurePolicy;
  /** The result cache's settings (ResultCache.settingsFromRow); undefined when the tenant row is gone. */
  cache: TenantCacheRow | undefined;
}

/** The columns `tenantRunContextSql` selects, by the name each is read as. */
export type TenantRunContextRow = TenantCacheRow & {
  on_failure: string;
  release: { version: number; candidate: unknown; percent: number; actor: string; reason: string | null; created_at: string } | null;
};

/**
 * Everything `POST /v1/runs` reads about the tenant, as one query over `tenant t`: the release
 * policy, the corpus version, `onFailure`, and the result cache's settings with the guardrail policy
 * its keys depend on (it was four queries on the request's path). `tenantId` is the SQL naming the
 * tenant: a value, or a column of the statement it is part of (the API key's, src/api/auth.ts).
 */
export function tenantRunContextSql(tenantId: Prisma.Sql): Prisma.Sql {
  return Prisma.sql`
    SELECT t.on_failure, ${TENANT_CACHE_COLUMNS},
           (SELECT to_jsonb(r) FROM release_policy r WHERE r.tenant_id = t.id ORDER BY r.version DESC LIMIT 1) AS release
    FROM tenant t ${TENANT_CACHE_JOINS}
    WHERE t.id = ${tenantId}`;
}

/** The context from a `tenantRunContextSql` row (none: the tenant row is gone, so every default). */
export function tenantRunContextFromRow(row: TenantRunContextRow | undefined): TenantRunContext {
  const release = row?.release;
  return {
    release: release ? releasePolicyView({ ...release, createdAt: new Date(release.created_at) }) : null,
    corpusVersion: row?.corpus ?? 0,
    onFailure: tenantOnFailurePolicy(row?.on_failure),
    cache: row,
  };
}

/** The context in a round trip of its own, for a caller whose authentication did not read it. */
export async function readTenantRunContext(db: Db, tenantId: string): Promise<TenantRunContext> {
  const rows = await queryRaw<TenantRunContextRow>(db, tenantRunContextSql(Prisma.sql`${tenantId}::uuid`));
  return tenantRunContextFromRow(rows[0]);
}
