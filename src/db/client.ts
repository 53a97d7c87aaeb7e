import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from '../generated/prisma/client';

export type Db = PrismaClient;

/**
 * Prisma 7's client talks to Postgres through `pg` (the driver adapter), so it needs no engine
 * binary. Build one per process and pass it to whoever needs it; `$disconnect()` ends its pool.
 */
export function createPrisma(databaseUrl: string): Db {
  return new PrismaClient({ adapter: new PrismaPg({ connectionString: databaseUrl }) });
}

export { PrismaClient };
