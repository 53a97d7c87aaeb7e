import type { PayloadCodec } from '@temporalio/common';
import { randomUUID } from 'node:crypto';
import type { Db } from '../db/client';
import { Prisma } from '../generated/prisma/client';
import { unmask, type VaultEntry } from './mask';
import { DEFAULT_POLICY, GuardrailPolicy, recordPolicy, type RecordedPolicy } from './policy';
import { openVault, sealVault } from './vault';

/** Guardrail state in Postgres: versioned tenant policies and per-run vaults. */

export async function currentPolicy(db: Db, tenantId: string): Promise<RecordedPolicy> {
  return policyFromRow(await db.guardrailPolicy.findFirst({ where: { tenantId }, orderBy: { version: 'desc' } }));
}

/**
 * The tenant's latest policy row as one JSON value (`{ policy, version }`, or null when none is
 * saved), for a query that reads it beside other things; `tenantId` is the SQL naming the tenant
 * (a column of the outer query). `policyFromRow` reads it.
 */
export function latestPolicyRowSql(tenantId: Prisma.Sql): Prisma.Sql {
  return Prisma.sql`(SELECT jsonb_build_object('policy', gp.policy, 'version', gp.version) FROM guardrail_policy gp
    WHERE gp.tenant_id = ${tenantId} ORDER BY gp.version DESC LIMIT 1)`;
}

/** The recorded policy from the tenant's latest policy row (none: the default), for callers that read it in a larger query. */
export function policyFromRow(row: { policy: unknown; version: number } | null | undefined): RecordedPolicy {
  return row ? recordPolicy(GuardrailPolicy.parse(row.policy), row.version) : recordPolicy(DEFAULT_POLICY, null);
}

/** Saves a new version; concurrent saves race on the (tenant, version) key and the loser retries once. */
export async function savePolicy(db: Db, tenantId: string, policy: GuardrailPolicy, createdBy: string): Promise<RecordedPolicy> {
  for (let attempt = 0; ; attempt++) {
    const latest = await db.guardrailPolicy.findFirst({ where: { tenantId }, orderBy: { version: 'desc' }, select: { version: true } });
    const version = (latest?.version ?? 0) + 1;
    try {
      await db.guardrailPolicy.create({ data: { id: randomUUID(), tenantId, version, policy: policy, createdBy } });
      return recordPolicy(policy, version);
    } catch (err) {
      if (attempt > 0 || !(err instanceof Error && 'code' in err && err.code === 'P2002')) throw err;
    }
  }
}

export async function readVault(db: Db, codec: PayloadCodec, runId: string, tenantId: string): Promise<{ entries: VaultEntry[]; apiKeyId: string | null } | undefined> {
  const row = await db.runVault.findFirst({ where: { runId, tenantId } });
  if (!row) return undefined;
  return { entries: await openVault(codec, row.sealed), apiKeyId: row.apiKeyId };
}

export async function sealEntries(codec: PayloadCodec, entries: readonly VaultEntry[]): Promise<Uint8Array<ArrayBuffer>> {
  return new Uint8Array(await sealVault(codec, entries));
}

/** The vault write, for the ledger transaction that completes the step which filled it. */
export function vaultUpsert(db: Db, ids: { runId: string; tenantId: string; apiKeyId?: string }, sealed: Uint8Array<ArrayBuffer>) {
  return db.runVault.upsert({
    where: { runId: ids.runId },
    create: { runId: ids.runId, tenantId: ids.tenantId, apiKeyId: ids.apiKeyId ?? null, sealed },
    update: { sealed },
  });
}

/**
 * The answer with its placeholders resolved, for the API key that started the run and no one
 * else: another key of the same tenant, an operator or a cache reader sees placeholders.
 */
export async function demaskForCaller<T>(db: Db, codec: PayloadCodec | undefined, run: { id: string; tenantId: string; result: T }, apiKeyId: string): Promise<T> {
  const result = run.result as unknown;
  if (!codec || typeof result !== 'object' || result === null || typeof (result as { answer?: unknown }).answer !== 'string') return run.result;
  const vault = await readVault(db, codec, run.id, run.tenantId);
  if (!vault || vault.apiKeyId !== apiKeyId) return run.result;
  return { ...(result as Record<string, unknown>), answer: unmask((result as { answer: string }).answer, vault.entries) } as T;
}
