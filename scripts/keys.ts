/** `npm run keys -- create|list|revoke ...`: see src/auth/keys-cli.ts. */
import { KeysCliError, runKeysCli } from '../src/auth/keys-cli';
import { loadConfig } from '../src/config';
import { createPrisma } from '../src/db/client';

async function main(): Promise<void> {
  const db = createPrisma(loadConfig().DATABASE_URL);
  try {
    await runKeysCli(db, process.argv.slice(2), (line) => console.log(line));
  } finally {
    await db.$disconnect();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof KeysCliError || !(err instanceof Error) ? String(err instanceof Error ? err.message : err) : err);
  process.exit(err instanceof KeysCliError ? 2 : 1);
});
