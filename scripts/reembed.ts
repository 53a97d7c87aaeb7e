/**
 * `npm run reembed -- --tenant <id> [--model <name>] [--batch 64]`: re-embeds a tenant's searchable
 * chunks whose vector was made by another model than `--model` (default: the configured
 * KEEL_EMBEDDING_MODEL), version by version. Resumable (stop it anywhere and run it again) and
 * idempotent (a second run re-embeds nothing). Why and when: docs/caching.md, "Changing the
 * embedding model". Prints progress to stderr and a JSON summary to stdout.
 */
import { loadConfig } from '../src/config';
import { createPrisma } from '../src/db/client';
import { reembedTenant } from '../src/documents/reembed';
import { createLlmClient } from '../src/llm/client';

const USAGE = 'usage: npm run reembed -- --tenant <tenant id> [--model <embedding model>] [--batch <chunks per call>]';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  const config = loadConfig();
  const tenantId = arg('tenant');
  const model = arg('model') ?? config.llm.embeddingModel;
  const batchSize = Number(arg('batch') ?? 64);
  if (!tenantId || !/^[0-9a-f-]{36}$/i.test(tenantId)) throw new Error(`--tenant needs a tenant id\n${USAGE}`);
  if (!model) throw new Error(`no embedding model: pass --model or set KEEL_EMBEDDING_MODEL\n${USAGE}`);
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 2048) throw new Error(`--batch must be an integer from 1 to 2048\n${USAGE}`);
  const db = createPrisma(config.DATABASE_URL);
  const controller = new AbortController();
  // Ctrl-C stops after the batch in flight; the next run resumes there.
  process.once('SIGINT', () => controller.abort(new Error('interrupted: run the command again to resume')));
  try {
    if (!(await db.tenant.findUnique({ where: { id: tenantId }, select: { id: true } }))) throw new Error(`no tenant ${tenantId}`);
    const summary = await reembedTenant(
      { db, llm: createLlmClient(config), prices: config.KEEL_MODEL_PRICES },
      { tenantId, model, batchSize, signal: controller.signal, onProgress: (p) => process.stderr.write(`reembed: version ${p.versionId}: ${p.chunks} chunks\n`) },
    );
    console.log(JSON.stringify(summary, null, 2));
  } finally {
    await db.$disconnect();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
