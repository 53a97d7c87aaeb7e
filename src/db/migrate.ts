import { createHash, randomUUID } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';

/**
 * Applies `prisma/migrations` the way `prisma migrate deploy` does, without Prisma's schema
 * engine binary (which cannot be downloaded offline). The bookkeeping is Prisma's own — same
 * `_prisma_migrations` table, same row format, same advisory lock — so a database migrated here
 * can later be taken over by `prisma migrate deploy`, and the two never run at once.
 */

export const MIGRATIONS_DIR = path.resolve(__dirname, '../../prisma/migrations');

// Prisma's schema engine, Postgres flavour, verbatim (the string is in its Wasm build). Creating
// it with different types would make Prisma's engine fail to read our rows.
const CREATE_MIGRATIONS_TABLE = `CREATE TABLE _prisma_migrations (
    id                      VARCHAR(36) PRIMARY KEY NOT NULL,
    checksum                VARCHAR(64) NOT NULL,
    finished_at             TIMESTAMPTZ,
    migration_name          VARCHAR(255) NOT NULL,
    logs                    TEXT,
    rolled_back_at          TIMESTAMPTZ,
    started_at              TIMESTAMPTZ NOT NULL DEFAULT now(),
    applied_steps_count     INTEGER NOT NULL DEFAULT 0
);`;

// The key Prisma's schema engine locks (`SELECT pg_advisory_lock(72707369)`): sharing it keeps
// our runner and `prisma migrate deploy` from interleaving, not just two of our runners.
const PRISMA_MIGRATE_LOCK_KEY = 72707369;

const MAINTENANCE_DATABASE = 'postgres';

export interface MigrationFile {
  readonly name: string;
  readonly script: string;
}

export interface MigrationRow {
  id: string;
  checksum: string;
  finished_at: Date | null;
  migration_name: string;
  logs: string | null;
  rolled_back_at: Date | null;
  started_at: Date;
  applied_steps_count: number;
}

/** An applied migration's file no longer matches what was applied. */
export class ModifiedMigrationError extends Error {
  constructor(readonly migrationName: string) {
    super(
      `Migration ${migrationName} was modified after it was applied: its migration.sql no longer matches ` +
        `the checksum recorded in _prisma_migrations. Restore the file and put the change in a new migration ` +
        `(npm run db:new-migration -- <name>).`,
    );
    this.name = 'ModifiedMigrationError';
  }
}

/** A migration's SQL failed just now; its transaction was rolled back and a failed row recorded. */
export class MigrationFailedError extends Error {
  constructor(
    readonly migrationName: string,
    options: { cause: unknown; recorded: boolean },
  ) {
    super(
      `Migration ${migrationName} failed and was rolled back: ${describeDatabaseError(options.cause)}. ` +
        (options.recorded
          ? `It is recorded as failed in _prisma_migrations, which blocks further migrations until resolved. ` +
            `Fix migration.sql, then ${resolveHint(migrationName)}`
          : `Recording the failure failed too (is the connection gone?); fix migration.sql and run the migrations again.`),
      { cause: options.cause },
    );
    this.name = 'MigrationFailedError';
  }
}

/** A failed migration from an earlier run blocks every later one, as Prisma's P3009 does. */
export class UnresolvedFailedMigrationError extends Error {
  constructor(
    readonly migrationName: string,
    readonly logs: string | null,
  ) {
    super(
      `Migration ${migrationName} failed in an earlier run and is unresolved in _prisma_migrations, so no ` +
        `migration is applied. Make the database consistent with it not having run, then ${resolveHint(migrationName)}` +
        (logs ? `\nRecorded error:\n${logs}` : ''),
    );
    this.name = 'UnresolvedFailedMigrationError';
  }
}

function resolveHint(migrationName: string): string {
  return (
    `mark it rolled back — \`prisma migrate resolve --rolled-back ${migrationName}\`, or offline ` +
    `\`UPDATE _prisma_migrations SET rolled_back_at = now() WHERE migration_name = '${migrationName}' ` +
    `AND finished_at IS NULL\` — and run the migrations again.`
  );
}

function describeDatabaseError(err: unknown): string {
  if (err instanceof pg.DatabaseError) return `${err.message} (SQLSTATE ${err.code ?? 'unknown'})`;
  return err instanceof Error ? err.message : String(err);
}

/** Prisma's migration checksum: lowercase hex SHA-256 of the script's UTF-8 bytes. */
export function migrationChecksum(script: string): string {
  return createHash('sha256').update(script, 'utf8').digest('hex');
}

// Prisma accepts a checksum computed with either line ending, because git's autocrlf may have
// rewritten the file on a checkout other than the one that applied it.
function checksumMatches(script: string, checksum: string): boolean {
  const variants = [script, script.replaceAll('\r\n', '\n'), script.replaceAll('\n', '\r\n')];
  return variants.some((variant) => migrationChecksum(variant) === checksum);
}

/** Migration directories in the order Prisma applies them: by name, i.e. by timestamp. */
export async function readMigrations(migrationsDir: string = MIGRATIONS_DIR): Promise<MigrationFile[]> {
  const entries = await readdir(migrationsDir, { withFileTypes: true });
  const names = entries
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
  return Promise.all(
    names.map(async (name) => {
      const file = path.join(migrationsDir, name, 'migration.sql');
      const script = await readFile(file, 'utf8').catch((err: unknown) => {
        throw new Error(`Migration directory ${name} has no readable migration.sql (${file})`, { cause: err });
      });
      return { name, script };
    }),
  );
}

export async function applyMigrations(
  databaseUrl: string,
  opts: { migrationsDir?: string; log?: (line: string) => void } = {},
): Promise<{ applied: string[]; skipped: string[] }> {
  const log = opts.log ?? (() => {});
  const migrations = await readMigrations(opts.migrationsDir);
  const client = new pg.Client({ connectionString: databaseUrl, application_name: 'keel-migrate' });
  await client.connect();
  try {
    await lockMigrations(client, log);
    await ensureMigrationsTable(client);
    const rows = await migrationRows(client);

    const failed = rows.find((r) => r.finished_at === null && r.rolled_back_at === null);
    if (failed) throw new UnresolvedFailedMigrationError(failed.migration_name, failed.logs);

    // Rolled-back rows are history, not state: such a migration is due again, as in Prisma.
    const finished = new Map(rows.filter((r) => r.rolled_back_at === null).map((r) => [r.migration_name, r]));
    for (const m of migrations) {
      const row = finished.get(m.name);
      if (row && !checksumMatches(m.script, row.checksum)) throw new ModifiedMigrationError(m.name);
    }
    const known = new Set(migrations.map((m) => m.name));
    for (const name of finished.keys()) {
      if (!known.has(name)) log(`warning: ${name} is recorded in _prisma_migrations but has no directory here`);
    }

    const applied: string[] = [];
    const skipped: string[] = [];
    for (const m of migrations) {
      if (finished.has(m.name)) {
        skipped.push(m.name);
        continue;
      }
      log(`applying ${m.name}`);
      await applyMigration(client, m);
      applied.push(m.name);
    }
    return { applied, skipped };
  } finally {
    // Ending the session releases the advisory lock, even if an error left a transaction open.
    await client.end();
  }
}

async function lockMigrations(client: pg.Client, log: (line: string) => void): Promise<void> {
  const { rows } = await client.query<{ locked: boolean }>(
    `SELECT pg_try_advisory_lock(${PRISMA_MIGRATE_LOCK_KEY}) AS locked`,
  );
  if (rows[0]?.locked) return;
  log('another migration run holds the lock; waiting for it to finish');
  await client.query(`SELECT pg_advisory_lock(${PRISMA_MIGRATE_LOCK_KEY})`);
}

async function ensureMigrationsTable(client: pg.Client): Promise<void> {
  const { rows } = await client.query<{ exists: boolean }>(
    `SELECT to_regclass('_prisma_migrations') IS NOT NULL AS exists`,
  );
  if (!rows[0]?.exists) await client.query(CREATE_MIGRATIONS_TABLE);
}

async function migrationRows(client: pg.Client): Promise<MigrationRow[]> {
  const { rows } = await client.query<MigrationRow>(
    `SELECT id, checksum, finished_at, migration_name, logs, rolled_back_at, started_at, applied_steps_count
       FROM _prisma_migrations ORDER BY started_at`,
  );
  return rows;
}

// Prisma records a migration as one step. Running the script and recording it in one transaction
// means a crash leaves either both or neither; Prisma's own Postgres path gets the same
// all-or-nothing from sending the script as a single multi-statement query.
async function applyMigration(client: pg.Client, m: MigrationFile): Promise<void> {
  const checksum = migrationChecksum(m.script);
  await client.query('BEGIN');
  try {
    await client.query(m.script);
    await client.query(
      `INSERT INTO _prisma_migrations (id, checksum, finished_at, migration_name, logs, started_at, applied_steps_count)
       VALUES ($1, $2, clock_timestamp(), $3, NULL, now(), 1)`,
      [randomUUID(), checksum, m.name],
    );
    await client.query('COMMIT');
  } catch (err) {
    const recorded = await client
      .query('ROLLBACK')
      .then(() =>
        client.query(
          `INSERT INTO _prisma_migrations (id, checksum, finished_at, migration_name, logs, started_at, applied_steps_count)
           VALUES ($1, $2, NULL, $3, $4, now(), 0)`,
          [randomUUID(), checksum, m.name, failureLogs(m.name, err)],
        ),
      )
      .then(
        () => true,
        () => false,
      );
    throw new MigrationFailedError(m.name, { cause: err, recorded });
  }
}

// Shaped like the logs Prisma's engine writes for a failed migration, so `prisma migrate status`
// shows something familiar.
function failureLogs(migrationName: string, err: unknown): string {
  const lines = [`Migration name: ${migrationName}`];
  if (err instanceof pg.DatabaseError) {
    lines.push(`Database error code: ${err.code ?? 'unknown'}`, `Database error:\nERROR: ${err.message}`);
    if (err.detail) lines.push(`DETAIL: ${err.detail}`);
    if (err.position) lines.push(`Position: ${err.position}`);
  } else {
    lines.push(`Error:\n${err instanceof Error ? err.message : String(err)}`);
  }
  return lines.join('\n\n');
}

export function databaseName(databaseUrl: string): string {
  const name = decodeURIComponent(new URL(databaseUrl).pathname.replace(/^\//, ''));
  if (!name) throw new Error(`The database URL names no database: ${redactUrl(databaseUrl)}`);
  return name;
}

/** The same server, user and options, another database. */
export function withDatabase(databaseUrl: string, database: string): string {
  const url = new URL(databaseUrl);
  url.pathname = `/${encodeURIComponent(database)}`;
  return url.toString();
}

export function redactUrl(databaseUrl: string): string {
  try {
    const url = new URL(databaseUrl);
    if (url.password) url.password = '***';
    return url.toString();
  } catch {
    return '<unparseable database URL>';
  }
}

async function withMaintenanceClient<T>(databaseUrl: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: withDatabase(databaseUrl, MAINTENANCE_DATABASE) });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Creates the database the URL names unless it exists; true if this call created it. */
export async function ensureDatabase(databaseUrl: string): Promise<boolean> {
  const name = databaseName(databaseUrl);
  return withMaintenanceClient(databaseUrl, async (client) => {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (rowCount) return false;
    try {
      await client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}`);
      return true;
    } catch (err) {
      // Another process created it between our check and our CREATE; a race that close can
      // surface as a unique violation on pg_database instead of duplicate_database.
      if (err instanceof pg.DatabaseError && (err.code === '42P04' || err.code === '23505')) return false;
      throw err;
    }
  });
}

/** Drops the database the URL names, disconnecting anyone still using it. */
export async function dropDatabase(databaseUrl: string): Promise<void> {
  const name = databaseName(databaseUrl);
  await withMaintenanceClient(databaseUrl, async (client) => {
    await client.query(`DROP DATABASE IF EXISTS ${client.escapeIdentifier(name)} WITH (FORCE)`);
  });
}
