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

/**
 * Everything `POST /v1/runs` reads about the tenant, in one round trip: the release policy, the
 * corpus version, `onFailure`, and the result cache's settings with the guardrail policy its keys
 * depend on. It was four queries on the request's path (docs/lean-orchestration.md).
 */
export async function readTenantRunContext(db: Db, tenantId: string): Promise<TenantRunContext> {
  const rows = await queryRaw<TenantCacheRow & { on_failure: string; release: { version: number; candidate: unknown; percent: number; actor: string; reason: string | null; created_at: string } | null }>(db, Prisma.sql`
    SELECT t.on_failure, ${TENANT_CACHE_COLUMNS},
           (SELECT to_jsonb(r) FROM release_policy r WHERE r.tenant_id = t.id ORDER BY r.version DESC LIMIT 1) AS release
    FROM tenant t ${TENANT_CACHE_JOINS}
    WHERE t.id = ${tenantId}::uuid`);
  const row = rows[0];
  const release = row?.release;
  return {
    release: release ? releasePolicyView({ ...release, createdAt: new Date(release.created_at) }) : null,
    corpusVersion: row?.corpus ?? 0,
    onFailure: tenantOnFailurePolicy(row?.on_failure),
    cache: row,
  };
}
