import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { migrateDiff, migrateStatus, SCHEMA_PATH } from '../scripts/prisma6';
import { createPrisma } from '../src/db/client';
import {
  applyMigrations,
  databaseName,
  dropDatabase,
  ensureDatabase,
  MIGRATIONS_DIR,
  MigrationFailedError,
  ModifiedMigrationError,
  readMigrations,
  UnresolvedFailedMigrationError,
  withDatabase,
  type MigrationRow,
} from '../src/db/migrate';
import { createEmptyTestDatabase, createTestDatabase, TEST_DATABASE_ADMIN_URL, withPgClient, type TestDatabase } from '../src/db/testing';

const databases: TestDatabase[] = [];
const scratchDirs: string[] = [];

async function emptyDatabase(label: string): Promise<TestDatabase> {
  const db = await createEmptyTestDatabase(label);
  databases.push(db);
  return db;
}

async function migratedDatabase(label: string): Promise<TestDatabase> {
  const db = await createTestDatabase(label);
  databases.push(db);
  return db;
}

async function scratchDir(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'keel-migrations-test-'));
  scratchDirs.push(dir);
  return dir;
}


/** A copy of prisma/migrations that a test may edit. */
async function copyOfMigrations(): Promise<string> {
  const dir = path.join(await scratchDir(), 'migrations');
  await cp(MIGRATIONS_DIR, dir, { recursive: true });
  return dir;
}

/** A database built straight from Prisma's SQL for a schema, bypassing migrations and our runner. */
async function databaseFromSchema(label: string, schemaPath: string = SCHEMA_PATH): Promise<TestDatabase> {
  const { output: sql } = await migrateDiff({ from: 'empty' }, { serverUrl: TEST_DATABASE_ADMIN_URL, schemaPath, script: true });
  const db = await emptyDatabase(label);
  await withPgClient(db.url, (c) => c.query(sql));
  return db;
}

/** schema.prisma with one more column on Tenant: what forgetting a migration looks like. */
async function schemaWithUnmigratedField(): Promise<string> {
  const schema = await readFile(SCHEMA_PATH, 'utf8');
  const changed = schema.replace(/(model Tenant \{\n)/, '$1  plan String?\n');
  assert.notEqual(changed, schema, 'the Tenant model moved; update this test');
  const file = path.join(await scratchDir(), 'schema.prisma');
  await writeFile(file, changed);
  return file;
}

/**
 * Everything Prisma would call drift, in a form that compares equal across two databases:
 * tables, columns (type, nullability, default, identity), indexes, constraints, enums and
 * sequences of the public schema. Column order is left out; Prisma does not diff it either.
 */
async function catalog(url: string): Promise<Record<string, unknown[]>> {
  return withPgClient(url, async (c) => {
    const q = async (sql: string) => (await c.query(sql)).rows as unknown[];
    return {
      tables: await q(`
        SELECT relname, relkind::text FROM pg_class
         WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'p', 'v', 'm', 'f')
           AND relname <> '_prisma_migrations'
         ORDER BY relname`),
      columns: await q(`
        SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull,
               pg_get_expr(d.adbin, d.adrelid) AS default, a.attidentity::text, a.attgenerated::text,
               a.attcollation::regcollation::text AS collation
          FROM pg_attribute a
          JOIN pg_class c ON c.oid = a.attrelid
          LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
         WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
           AND c.relname <> '_prisma_migrations' AND a.attnum > 0 AND NOT a.attisdropped
         ORDER BY c.relname, a.attname`),
      indexes: await q(`
        SELECT tablename, indexname, indexdef FROM pg_indexes
         WHERE schemaname = 'public' AND tablename <> '_prisma_migrations'
         ORDER BY tablename, indexname`),
      constraints: await q(`
        SELECT conrelid::regclass::text AS table, conname, contype::text, pg_get_constraintdef(oid) AS definition
          FROM pg_constraint
         WHERE connamespace = 'public'::regnamespace AND conrelid <> COALESCE(to_regclass('_prisma_migrations'), 0)
         ORDER BY 1, 2`),
      enums: await q(`
        SELECT t.typname, array_agg(e.enumlabel ORDER BY e.enumsortorder) AS labels
          FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid
         WHERE t.typnamespace = 'public'::regnamespace
         GROUP BY t.typname ORDER BY t.typname`),
      sequences: await q(`
        SELECT sequencename, data_type::text, start_value, increment_by FROM pg_sequences
         WHERE schemaname = 'public' ORDER BY sequencename`),
    };
  });
}


async function migrationRows(url: string): Promise<MigrationRow[]> {
  return withPgClient(url, async (c) => (await c.query<MigrationRow>('SELECT * FROM _prisma_migrations ORDER BY started_at, migration_name')).rows);
}

describe('migrations', () => {
  after(async () => {
    await Promise.all(databases.map((db) => db.drop()));
    await Promise.all(scratchDirs.map((dir) => rm(dir, { recursive: true, force: true })));
  });

  describe('drift against schema.prisma', () => {
    it('prisma/migrations produce exactly the schema.prisma models (Prisma 6.19 migrate diff)', async () => {
      const diff = await migrateDiff({ from: 'migrations', dir: MIGRATIONS_DIR }, { serverUrl: TEST_DATABASE_ADMIN_URL });
      assert.equal(
        diff.changed,
        false,
        `schema.prisma has changes that no migration makes; run npm run db:new-migration -- <name>\n${diff.output}`,
      );
    });

    it('Prisma 6.19 migrate diff reports a field that has no migration', async () => {
      const diff = await migrateDiff(
        { from: 'migrations', dir: MIGRATIONS_DIR },
        { serverUrl: TEST_DATABASE_ADMIN_URL, schemaPath: await schemaWithUnmigratedField(), script: true },
      );
      assert.equal(diff.changed, true);
      assert.match(diff.output, /ALTER TABLE "tenant" ADD COLUMN\s+"plan" TEXT;/);
    });

    it('the runner builds the same database as Prisma SQL for schema.prisma applied directly', async () => {
      const [ours, prismas] = await Promise.all([migratedDatabase('drift_runner'), databaseFromSchema('drift_prisma')]);
      const [a, b] = await Promise.all([catalog(ours.url), catalog(prismas.url)]);
      assert.ok((a.tables ?? []).length >= 4 && (a.indexes ?? []).length > 0, 'the catalog dump found the tables');
      assert.deepEqual(a, b);
    });

    it('the catalog comparison notices a column the migrations lack', async () => {
      const [ours, ahead] = await Promise.all([
        migratedDatabase('drift_runner_ctl'),
        databaseFromSchema('drift_ahead', await schemaWithUnmigratedField()),
      ]);
      const [a, b] = await Promise.all([catalog(ours.url), catalog(ahead.url)]);
      assert.notDeepEqual(a.columns, b.columns);
      assert.deepEqual(a.indexes, b.indexes);
    });
  });

  describe('the runner', () => {
    it('applies each migration once and records it as Prisma does', async () => {
      const db = await emptyDatabase('runner_rows');
      const names = (await readMigrations()).map((m) => m.name);
      assert.ok(names.includes('20261128000000_init'));

      assert.deepEqual(await applyMigrations(db.url), { applied: names, skipped: [] });
      assert.deepEqual(await applyMigrations(db.url), { applied: [], skipped: names });

      const rows = await migrationRows(db.url);
      assert.deepEqual(rows.map((r) => r.migration_name), names);
      for (const row of rows) {
        const file = await readFile(path.join(MIGRATIONS_DIR, row.migration_name, 'migration.sql'));
        assert.equal(row.checksum, createHash('sha256').update(file).digest('hex'));
        assert.match(row.id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
        assert.ok(row.finished_at instanceof Date && row.finished_at >= row.started_at);
        assert.equal(row.rolled_back_at, null);
        assert.equal(row.logs, null);
        assert.equal(row.applied_steps_count, 1);
      }

      const status = await migrateStatus(db.url);
      assert.equal(status.code, 0, status.stdout + status.stderr);
      assert.match(status.stdout, /Database schema is up to date!/);
    });

    it("creates _prisma_migrations with Prisma's column types, defaults and key", async () => {
      const db = await migratedDatabase('runner_table');
      const columns = await withPgClient(db.url, async (c) => {
        const { rows } = await c.query<{ column_name: string; type: string; nullable: boolean; default: string | null }>(`
          SELECT a.attname AS column_name, format_type(a.atttypid, a.atttypmod) AS type, NOT a.attnotnull AS nullable,
                 pg_get_expr(d.adbin, d.adrelid) AS default
            FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
           WHERE a.attrelid = '_prisma_migrations'::regclass AND a.attnum > 0 AND NOT a.attisdropped
           ORDER BY a.attnum`);
        return rows;
      });
      assert.deepEqual(columns, [
        { column_name: 'id', type: 'character varying(36)', nullable: false, default: null },
        { column_name: 'checksum', type: 'character varying(64)', nullable: false, default: null },
        { column_name: 'finished_at', type: 'timestamp with time zone', nullable: true, default: null },
        { column_name: 'migration_name', type: 'character varying(255)', nullable: false, default: null },
        { column_name: 'logs', type: 'text', nullable: true, default: null },
        { column_name: 'rolled_back_at', type: 'timestamp with time zone', nullable: true, default: null },
        { column_name: 'started_at', type: 'timestamp with time zone', nullable: false, default: 'now()' },
        { column_name: 'applied_steps_count', type: 'integer', nullable: false, default: '0' },
      ]);
      const [pk] = await withPgClient(db.url, async (c) =>
        (await c.query<{ def: string }>(`SELECT pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE conrelid = '_prisma_migrations'::regclass`)).rows,
      );
      assert.equal(pk?.def, 'PRIMARY KEY (id)');
    });

    it('refuses a migration modified after it was applied, naming it', async () => {
      const dir = await copyOfMigrations();
      const db = await emptyDatabase('runner_modified');
      await applyMigrations(db.url, { migrationsDir: dir });

      const file = path.join(dir, '20261128000000_init', 'migration.sql');
      const original = await readFile(file, 'utf8');
      // Git's autocrlf rewriting line endings is not a modification, for Prisma nor for us.
      await writeFile(file, original.replaceAll('\n', '\r\n'));
      assert.deepEqual((await applyMigrations(db.url, { migrationsDir: dir })).applied, []);

      await writeFile(file, `${original}\nALTER TABLE "tenant" ADD COLUMN "plan" TEXT;\n`);
      await assert.rejects(
        applyMigrations(db.url, { migrationsDir: dir }),
        (err: unknown) =>
          err instanceof ModifiedMigrationError &&
          err.migrationName === '20261128000000_init' &&
          err.message.includes('20261128000000_init'),
      );
    });

    it('records a failed migration like Prisma, rolls it back and blocks until it is resolved', async () => {
      const dir = await copyOfMigrations();
      const broken = '20990101000000_broken';
      await mkdir(path.join(dir, broken));
      await writeFile(
        path.join(dir, broken, 'migration.sql'),
        'ALTER TABLE "tenant" ADD COLUMN "plan" TEXT;\nALTER TABLE "no_such_table" ADD COLUMN "x" TEXT;\n',
      );
      const db = await emptyDatabase('runner_failed');

      await assert.rejects(
        applyMigrations(db.url, { migrationsDir: dir }),
        (err: unknown) =>
          err instanceof MigrationFailedError &&
          err.migrationName === broken &&
          err.cause instanceof pg.DatabaseError &&
          err.cause.code === '42P01' &&
          /no_such_table/.test(err.message),
      );
      const shipped = (await readMigrations()).map((m) => m.name);
      const rows = await migrationRows(db.url);
      assert.deepEqual(rows.map((r) => [r.migration_name, r.finished_at === null]), [...shipped.map((name) => [name, false]), [broken, true]]);
      const failed = rows.at(-1)!;
      assert.equal(failed.applied_steps_count, 0);
      assert.equal(failed.rolled_back_at, null);
      assert.match(failed.logs ?? '', /no_such_table/);
      const planColumn = await withPgClient(db.url, async (c) =>
        (await c.query(`SELECT 1 FROM information_schema.columns WHERE table_name = 'tenant' AND column_name = 'plan'`)).rowCount,
      );
      assert.equal(planColumn, 0, 'the failed migration left no partial change');
      const status = await migrateStatus(db.url, { migrationsDir: dir });
      assert.notEqual(status.code, 0);
      assert.match(status.stdout + status.stderr, new RegExp(`prisma migrate resolve --rolled-back "${broken}"`));

      await writeFile(path.join(dir, broken, 'migration.sql'), 'ALTER TABLE "tenant" ADD COLUMN "plan" TEXT;\n');
      await assert.rejects(
        applyMigrations(db.url, { migrationsDir: dir }),
        (err: unknown) => err instanceof UnresolvedFailedMigrationError && err.migrationName === broken,
      );

      // What `prisma migrate resolve --rolled-back` does.
      await withPgClient(db.url, (c) =>
        c.query(`UPDATE _prisma_migrations SET rolled_back_at = now() WHERE migration_name = $1 AND finished_at IS NULL`, [broken]),
      );
      assert.deepEqual(await applyMigrations(db.url, { migrationsDir: dir }), {
        applied: [broken],
        skipped: shipped,
      });
    });

    it('lets concurrent runs on one fresh database apply each migration exactly once', async () => {
      const db = await emptyDatabase('runner_concurrent');
      const names = (await readMigrations()).map((m) => m.name);
      const results = await Promise.all([1, 2, 3, 4].map(() => applyMigrations(db.url)));
      assert.deepEqual(results.flatMap((r) => r.applied).sort(), [...names].sort());
      for (const r of results) assert.deepEqual([...r.applied, ...r.skipped].sort(), [...names].sort());
      assert.deepEqual((await migrationRows(db.url)).map((r) => r.migration_name), names);
    });

    it('ensureDatabase creates a missing database once and dropDatabase removes it', async () => {
      const url = withDatabase(TEST_DATABASE_ADMIN_URL, `keel_test_ensure_${randomUUID().slice(0, 8)}`);
      databases.push({ url, drop: () => dropDatabase(url) });
      const exists = () =>
        withPgClient(TEST_DATABASE_ADMIN_URL, async (c) => (await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [databaseName(url)])).rowCount === 1);

      assert.deepEqual((await Promise.all([ensureDatabase(url), ensureDatabase(url)])).sort(), [false, true]);
      assert.equal(await ensureDatabase(url), false);
      assert.equal(await exists(), true);
      await dropDatabase(url);
      assert.equal(await exists(), false);
    });
  });

  describe('the generated Prisma client', () => {
    it('reads and writes a migrated database', async () => {
      const db = await migratedDatabase('client');
      const prisma = createPrisma(db.url);
      try {
        const id = randomUUID();
        await prisma.tenant.create({ data: { id, name: 'Acme' } });
        const tenant = await prisma.tenant.findUnique({ where: { id } });
        assert.equal(tenant?.name, 'Acme');
        assert.ok(tenant.createdAt instanceof Date);
      } finally {
        await prisma.$disconnect();
      }
    });
  });
});
