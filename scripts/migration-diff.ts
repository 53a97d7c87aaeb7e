/**
 * Writes a new migration for whatever schema.prisma has that prisma/migrations does not:
 *
 *   npm run db:new-migration -- <name>        e.g. npm run db:new-migration -- add_run_labels
 *
 * It works offline: Prisma 6.19's Wasm schema engine (scripts/prisma6.ts) replays the existing
 * migrations in a scratch database on the Postgres server of DATABASE_URL, diffs the result
 * against schema.prisma and the SQL lands in prisma/migrations/<UTC timestamp>_<name>/migration.sql.
 * Review it (renames come out as drop + add), then `npm run db:migrate`. It writes nothing when
 * the migrations already match the schema.
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { loadConfig } from '../src/config';
import { MIGRATIONS_DIR } from '../src/db/migrate';
import { MIGRATION_LOCK_TOML, migrateDiff } from './prisma6';

function usage(message: string): never {
  console.error(`${message}\nUsage: npm run db:new-migration -- <name>   (letters, digits and _; e.g. add_run_labels)`);
  process.exit(64);
}

// Prisma's own form: YYYYMMDDHHMMSS in UTC.
function timestamp(date: Date): string {
  return date.toISOString().replace(/[-:T]/g, '').slice(0, 14);
}

// Migrations apply in name order, so a new one must sort after every existing one even if the
// clock is behind the newest timestamp (another machine's clock, or a hand-made name).
function nextTimestamp(existing: string[], now: Date): string {
  const newest = existing.map((name) => name.slice(0, 14)).sort().at(-1);
  const candidate = timestamp(now);
  if (newest === undefined || candidate > newest) return candidate;
  const y = Number(newest.slice(0, 4));
  const [mo, d, h, mi, s] = [4, 6, 8, 10, 12].map((i) => Number(newest.slice(i, i + 2))) as [number, number, number, number, number];
  return timestamp(new Date(Date.UTC(y, mo - 1, d, h, mi, s + 1)));
}

async function main(): Promise<void> {
  const rawName = process.argv[2];
  if (!rawName || process.argv.length > 3) usage('Give exactly one migration name.');
  const name = rawName.trim().toLowerCase().replace(/[\s-]+/g, '_');
  if (!/^[a-z0-9_]+$/.test(name)) usage(`Invalid migration name "${rawName}".`);

  const existing = existsSync(MIGRATIONS_DIR)
    ? (await readdir(MIGRATIONS_DIR, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name)
    : [];
  const { DATABASE_URL } = loadConfig();
  const diff = await migrateDiff(existing.length ? { from: 'migrations', dir: MIGRATIONS_DIR } : { from: 'empty' }, {
    serverUrl: DATABASE_URL,
    script: true,
  });
  if (!diff.changed) {
    console.log('schema.prisma matches prisma/migrations; no migration written.');
    return;
  }

  const dir = path.join(MIGRATIONS_DIR, `${nextTimestamp(existing, new Date())}_${name}`);
  await mkdir(dir, { recursive: true });
  const lockFile = path.join(MIGRATIONS_DIR, 'migration_lock.toml');
  if (!existsSync(lockFile)) await writeFile(lockFile, MIGRATION_LOCK_TOML);
  await writeFile(path.join(dir, 'migration.sql'), diff.output);
  console.log(`Wrote ${path.relative(process.cwd(), path.join(dir, 'migration.sql'))}`);
  console.log('Review it, then apply it with: npm run db:migrate');
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
