/**
 * `npm run eval:cache -- <file.jsonl> [--split train|eval] [--threshold 0.955] [--limit N]`: scores
 * the semantic cache on rows `{ "a", "b", "same"?: boolean }` through the real lookup path
 * (scripts/cache-scoring.ts, shared with the bench): every `a` stored, every `b` looked up.
 *
 * - hit rate: rows with `same: true` (or no `same`) whose `b` was answered by its own `a`;
 * - false-hit rate: `same: false` rows whose `b` got any hit;
 * - files without `same` (paraphrase pairs) are also scored pairwise: each `a` alone in a cache,
 *   its own `b` must hit and the next row's `b` must not;
 * - lookup latency p50/p99: the whole `cacheLookup` path (embedding, Redis, search, guards).
 *
 * `--split` keeps one side of the deterministic train/eval split (`splitOf`). Needs Postgres (a
 * scratch database, dropped after) and Redis (a scratch key prefix, deleted after).
 */
import { createPrisma } from '../src/db/client';
import { createTestDatabase } from '../src/db/testing';
import { startModelServer } from '../src/model-server/server';
import { SENTENCE_EMBEDDING_MODEL } from '../src/model-server/sentence-embedder';
import { openScoringCache, readPairs, scorePairs, splitOf } from './cache-scoring';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const USAGE = 'usage: npm run eval:cache -- <file.jsonl> [--split train|eval] [--threshold 0.955] [--limit N]';

async function main(): Promise<void> {
  const valued = new Set(['--split', '--threshold', '--limit'].map((f) => process.argv.indexOf(f) + 1).filter((i) => i > 0));
  const file = process.argv.slice(2).find((a, i) => !a.startsWith('--') && !valued.has(i + 2));
  if (!file) throw new Error(USAGE);
  const split = arg('split');
  if (split !== undefined && split !== 'train' && split !== 'eval') throw new Error(USAGE);
  const limit = Number(arg('limit') ?? Infinity);
  const threshold = arg('threshold') !== undefined ? Number(arg('threshold')) : undefined;
  const rows = readPairs(file).filter((r) => !split || splitOf(r) === split).slice(0, limit);

  const model = await startModelServer({ port: 0 });
  if (model.embeddingFallbackReason) throw new Error(`the offline embedding model is not installed: ${model.embeddingFallbackReason}`);
  const database = await createTestDatabase('eval-cache');
  const db = createPrisma(database.url);
  const scoring = openScoringCache({ db, modelUrl: model.url, threshold });
  const started = Date.now();
  try {
    const score = await scorePairs(scoring, rows);
    const report = { file, split: split ?? 'all', embeddingModel: SENTENCE_EMBEDDING_MODEL, ...score, seconds: Math.round((Date.now() - started) / 1000) };
    console.log(JSON.stringify(report, (_k, v: unknown) => (typeof v === 'number' && !Number.isInteger(v) ? Number(v.toFixed(4)) : v), 2));
  } finally {
    await scoring.close();
    await db.$disconnect();
    await database.drop();
    await model.close();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
