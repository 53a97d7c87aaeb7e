/**
 * `npm run db:migrate`: creates the database in DATABASE_URL if it is missing and applies
 * prisma/migrations with Keel's offline runner (src/db/migrate.ts). Safe to run again, and
 * alongside another run: it applies only what is missing, one run at a time.
 */
import { loadConfig } from '../src/config';
import { applyMigrations, databaseName, ensureDatabase, redactUrl } from '../src/db/migrate';

// Connection failures, as opposed to failures of a migration: they get a message naming the fix.
const UNREACHABLE = new Set(['ECONNREFUSED', 'ETIMEDOUT', 'EHOSTUNREACH', 'ECONNRESET']);
const UNKNOWN_HOST = new Set(['ENOTFOUND', 'EAI_AGAIN']);
const AUTH_FAILED = new Set(['28P01', '28000']);

function errorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string') return code;
  // Node reports a host that resolves to several addresses as an AggregateError.
  return err instanceof AggregateError ? errorCode(err.errors[0]) : undefined;
}

function explain(err: unknown, databaseUrl: string): string {
  const code = errorCode(err);
  const url = new URL(databaseUrl);
  const server = `${url.hostname || 'localhost'}:${url.port || '5432'}`;
  if (code && UNREACHABLE.has(code)) {
    return (
      `Postgres is not reachable at ${server} (${code}). Start it — on this machine ` +
      `\`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start\`, or ` +
      `\`docker compose up -d postgres\` — or point DATABASE_URL at a running server.`
    );
  }
  if (code && UNKNOWN_HOST.has(code)) {
    return `Postgres host ${url.hostname} in DATABASE_URL does not resolve (${code}): fix DATABASE_URL.`;
  }
  if (code && AUTH_FAILED.has(code)) {
    return `Postgres at ${server} refused the credentials in DATABASE_URL (${redactUrl(databaseUrl)}): fix the user or password.`;
  }
  return err instanceof Error ? err.message : String(err);
}

async function main(): Promise<void> {
  const { DATABASE_URL } = loadConfig();
  try {
    if (await ensureDatabase(DATABASE_URL)) console.log(`Created database ${databaseName(DATABASE_URL)}`);
    const { applied, skipped } = await applyMigrations(DATABASE_URL, { log: (line) => console.log(line) });
    const where = redactUrl(DATABASE_URL);
    console.log(
      applied.length
        ? `Applied ${applied.length} migration(s) to ${where}; ${skipped.length} were already applied.`
        : `${where} is up to date (${skipped.length} migration(s) applied earlier).`,
    );
  } catch (err) {
    console.error(explain(err, DATABASE_URL));
    process.exitCode = 1;
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
