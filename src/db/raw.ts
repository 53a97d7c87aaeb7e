import type pg from 'pg';
import type { Prisma, PrismaClient } from '../generated/prisma/client';

/** The `pg` pool under each client `createPrisma` built (the driver adapter's own). */
const pools = new WeakMap<PrismaClient, pg.Pool>();

export function attachPool(db: PrismaClient, pool: pg.Pool): void {
  pools.set(db, pool);
}

function poolOf(db: PrismaClient): pg.Pool {
  const pool = pools.get(db);
  if (!pool) throw new Error('This Prisma client was not built by createPrisma (src/db/client.ts), so it has no pg pool to send raw statements through');
  return pool;
}

/** A Date as an ISO instant with its zone (`pg` would send local time): the columns are `timestamptz`. */
const param = (value: unknown): unknown => (value instanceof Date ? value.toISOString() : value);

/**
 * A raw statement through the client's `pg` pool directly, the same SQL and values `$executeRaw`
 * would send: for the worker's hottest statements (ledger rows, the run's transitions), where
 * Prisma's client costs 0.31 ms of CPU per statement against pg's 0.11 (docs/lean-orchestration.md).
 * Errors are `pg`'s, with the SQLSTATE in `code` (`isPermanentWriteError` reads both kinds).
 */
export async function executeRaw(db: PrismaClient, sql: Prisma.Sql): Promise<number> {
  return (await poolOf(db).query(sql.text, sql.values.map(param))).rowCount ?? 0;
}

/** `executeRaw` for a statement that returns rows (jsonb comes back parsed, as from `$queryRaw`). */
export async function queryRaw<T>(db: PrismaClient, sql: Prisma.Sql): Promise<T[]> {
  return (await poolOf(db).query(sql.text, sql.values.map(param))).rows as T[];
}
