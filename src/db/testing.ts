import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { applyMigrations, dropDatabase, withDatabase } from './migrate';

export const TEST_DATABASE_ADMIN_URL =
  process.env.KEEL_TEST_DATABASE_ADMIN_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';

export interface TestDatabase {
  readonly url: string;
  drop(): Promise<void>;
}

/** A fresh, empty database on the test server, named so a leftover one says where it came from. */
export async function createEmptyTestDatabase(label: string): Promise<TestDatabase> {
  const slug = label.toLowerCase().replace(/[^a-z0-9]+/g, '_').replace(/^_|_$/g, '').slice(0, 30);
  // Postgres truncates identifiers at 63 bytes; the random suffix keeps parallel runs apart.
  const name = `keel_test_${slug || 'db'}_${randomBytes(5).toString('hex')}`;
  const admin = new pg.Client({ connectionString: TEST_DATABASE_ADMIN_URL });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${admin.escapeIdentifier(name)}`);
  } finally {
    await admin.end();
  }
  const url = withDatabase(TEST_DATABASE_ADMIN_URL, name);
  return { url, drop: () => dropDatabase(url) };
}

/** A fresh database with every migration applied; `drop()` it when the test file is done. */
export async function createTestDatabase(label: string): Promise<TestDatabase> {
  const db = await createEmptyTestDatabase(label);
  try {
    await applyMigrations(db.url);
  } catch (err) {
    await db.drop();
    throw err;
  }
  return db;
}

/** Runs `fn` with a plain `pg` client on `url`, for tests that need SQL Prisma doesn't speak (locks, catalogs). */
export async function withPgClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}
