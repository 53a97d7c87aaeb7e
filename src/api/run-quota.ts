import type { Db } from '../db/client';
import { queryRaw } from '../db/raw';
import { Prisma } from '../generated/prisma/client';
import { RUN_STATUSES, TERMINAL_STATUSES } from '../shared';
import { problems } from './problem';

/** Every status that is not terminal: a run in one of them holds one of its tenant's slots. */
const ACTIVE_STATUSES: readonly string[] = RUN_STATUSES.filter((s) => !TERMINAL_STATUSES.includes(s));

/**
 * Inserts a run unless the tenant already has `limit` runs that have not finished (queued,
 * running or waiting for an operator). The count and the insert happen under a per-tenant
 * transaction-scoped advisory lock, so concurrent requests on any number of API processes cannot
 * both see "one slot left" and overshoot. A run whose id already exists (an `Idempotency-Key`
 * replay) is not counted again: `count` is 0 and the caller answers with the existing run.
 *
 * One statement: the Postgres function `keel_insert_run_within_limit` (migration
 * 20261203170000_run_limit_counts_active) holds the lock for its own statement, to its commit, where
 * an interactive transaction held it across five round trips and queued a tenant's burst behind it. It counts the
 * statuses in flight (`ACTIVE_STATUSES`) through the (tenant_id, status) index, so its cost follows
 * the runs in flight, not every run the tenant ever made (docs/lean-orchestration.md).
 */
export async function createRunWithinQuota(db: Db, limit: number, data: Prisma.RunCreateManyInput): Promise<{ count: number }> {
  const json = (v: unknown) => (v === undefined || v === null ? null : JSON.stringify(v));
  const [row] = await queryRaw<{ outcome: number }>(db, Prisma.sql`
    SELECT keel_insert_run_within_limit(
      ${data.id}, ${data.tenantId}::uuid, ${limit}::int, ${[...ACTIVE_STATUSES]}::text[],
      ${data.type}, ${data.status}, ${json(data.input)}::jsonb, ${data.inputHash}, COALESCE(${json(data.options)}::jsonb, '{}'::jsonb), ${data.model ?? null},
      ${data.idempotencyKey ?? null}, ${json(data.versions)}::jsonb
    ) AS outcome`);
  if (row?.outcome === -1) throw problems.concurrencyLimit(limit);
  return { count: row?.outcome === 1 ? 1 : 0 };
}
