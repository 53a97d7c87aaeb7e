import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { PrismaClient } from '../generated/prisma/client';
import { attachPool } from './raw';

export type Db = PrismaClient;

/**
 * Prisma 7's client talks to Postgres through `pg` (the driver adapter), so it needs no engine
 * binary. Build one per process and pass it to whoever needs it; `$disconnect()` ends its pool.
 * The pool is also the one `src/db/raw.ts` sends the worker's hottest raw statements through.
 */
export function createPrisma(databaseUrl: string, opts: { statementTimeoutMs?: number } = {}): Db {
  // A statement past its deadline is cancelled by Postgres itself (SQLSTATE 57014), so a request
  // that ran out of time stops where it stands instead of writing after its client gave up.
  const timeout = opts.statementTimeoutMs ? { statement_timeout: opts.statementTimeoutMs } : {};
  const pool = new pg.Pool({ connectionString: databaseUrl, ...timeout });
  const db = new PrismaClient({ adapter: new PrismaPg(pool, { disposeExternalPool: true }) });
  attachPool(db, pool);
  return db;
}

export { PrismaClient };
