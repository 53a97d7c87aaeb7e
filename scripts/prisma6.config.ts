import { randomBytes } from 'node:crypto';
import { defineConfig, type PrismaConfig } from 'prisma6/config';
import pg from 'pg';
import { PrismaPg } from 'prisma6-adapter-pg';
import { dropDatabase, ensureDatabase, MIGRATIONS_DIR, withDatabase } from '../src/db/migrate';

/**
 * Prisma config for Prisma 6.19's CLI as scripts/prisma6.ts runs it; not for direct use. It
 * selects the Wasm schema engine (`engine: 'js'`), which reaches Postgres through a driver
 * adapter, because the native engine would have to be downloaded.
 */

type MigrationAdapterFactory = Awaited<ReturnType<Extract<PrismaConfig, { engine: 'js' }>['adapter']>>;

function requiredEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run Prisma 6 through scripts/prisma6.ts`);
  return value;
}

// Postgres type OIDs of `"char"` and `name`, which the engine's catalog queries return and
// adapter-pg 6.19 rejects as unsupported; their text form is what the engine reads.
const CATALOG_TEXT_TYPES = new Set([18, 19]);
const TEXT_OID = 25;

function pool(connectionString: string): pg.Pool {
  // The CLI never disposes the main connection; without allowExitOnIdle its idle client would
  // hold the process open for pg's 10 s idle timeout after the diff is done.
  const p = new pg.Pool({ connectionString, allowExitOnIdle: true });
  const query = p.query.bind(p) as (config: pg.QueryConfig, values?: unknown[]) => Promise<pg.QueryResult>;
  return Object.assign(p, {
    query: async (config: pg.QueryConfig, values?: unknown[]) => {
      const result = await query(config, values);
      for (const field of result.fields ?? []) {
        if (CATALOG_TEXT_TYPES.has(field.dataTypeID)) field.dataTypeID = TEXT_OID;
      }
      return result;
    },
  });
}

function adapterFactory(connectionString: string): PrismaPg {
  return new PrismaPg(pool(connectionString), { disposeExternalPool: true });
}

// adapter-pg 6.19's own connectToShadowDb is unusable: it passes the new database name next to
// the original connectionString, which wins, so the "shadow" is the main database; and it drops
// the shadow database while its pool still holds a connection, so the drop fails.
class ScratchShadowDatabases implements MigrationAdapterFactory {
  readonly provider = 'postgres';
  readonly adapterName = '@prisma/adapter-pg';

  constructor(private readonly serverUrl: string) {}

  connect() {
    return adapterFactory(this.serverUrl).connect();
  }

  async connectToShadowDb() {
    const url = withDatabase(this.serverUrl, `keel_shadow_${randomBytes(6).toString('hex')}`);
    await ensureDatabase(url);
    const adapter = await adapterFactory(url).connect();
    const release = adapter.dispose.bind(adapter);
    adapter.dispose = async () => {
      try {
        await release();
      } finally {
        await dropDatabase(url);
      }
    };
    return adapter;
  }
}

export default defineConfig({
  experimental: { adapter: true },
  engine: 'js',
  schema: requiredEnv('KEEL_PRISMA6_SCHEMA'),
  migrations: { path: process.env.KEEL_PRISMA6_MIGRATIONS ?? MIGRATIONS_DIR },
  adapter: async () => new ScratchShadowDatabases(requiredEnv('KEEL_PRISMA6_SERVER_URL')),
});
