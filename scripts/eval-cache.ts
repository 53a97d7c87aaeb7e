/**
 * `npm run eval:cache -- <file.jsonl> [--threshold 0.93] [--limit N] [--nearest]`: scores the semantic cache
 * on rows `{ "a", "b", "same"?: boolean }` through the real lookup path — the offline model
 * server's multilingual-e5-small over HTTP through the `openai` SDK, Redis, the sealed values, the
 * in-process index and the false-hit guards — by storing every `a` (as a finished run would) and
 * looking up every `b` (as a new run would).
 *
 * - hit rate: rows with `same: true` (or no `same`) whose `b` was answered by its own `a`;
 * - false hits: `same: false` rows whose `b` got any hit; for files of paraphrase pairs without
 *   `same`, each row's `a` alone in a cache looked up with the next row's `b` (pairwise, as the
 *   pairs were labelled), and with `--nearest` also the second half's `b`s looked up in a cache
 *   of the first half's `a`s (any hit is false: a stricter, nearest-neighbour measure).
 * - wrong hits: `same: true` rows whose `b` was answered by another row's `a`.
 * - lookup latency: the whole `cacheLookup` path (embedding, Redis, search, guards), p50/p99.
 *
 * Needs Postgres (a scratch database, dropped after) and Redis (a scratch key prefix, deleted after).
 */
import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import OpenAI from 'openai';
import { createResultCache } from '../src/cache';
import type { ResultCache } from '../src/cache';
import { loadConfig } from '../src/config';
import { createPrisma, type Db } from '../src/db/client';
import { createTestDatabase } from '../src/db/testing';
import { startModelServer } from '../src/model-server/server';
import { SENTENCE_EMBEDDING_MODEL } from '../src/model-server/sentence-embedder';

interface Row {
  a: string;
  b: string;
  same?: boolean;
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const percentile = (xs: number[], p: number) => {
  const sorted = [...xs].sort((x, y) => x - y);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
};

const noop = () => undefined;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function storeQuestion(cache: ResultCache, tenantId: string, question: string, label: string): Promise<string | undefined> {
  const runId = randomUUID();
  const lookup = await cache.lookupForRun({
    runId, tenantId, question, options: { model: 'keel-offline-1' }, control: { lookup: true, store: true }, entry: { usage: {}, lineage: {} }, heartbeat: noop, sleep,
  });
  if (lookup.hit) return lookup.hit.originalRunId;
  if (!lookup.ticket) throw new Error('the cache is unavailable (is Redis running?)');
  const result = { answer: `answer for ${label}`, model: 'keel-offline-1', finishReason: 'stop', usage: { promptTokens: 100, completionTokens: 20 } };
  await cache.store({ ticket: lookup.ticket, runId, question, result, saved: { tokens: 120, costUsd: 0, latencyMs: 1000 }, entry: { usage: {}, lineage: {} } });
  return runId;
}

async function lookUp(cache: ResultCache, tenantId: string, question: string): Promise<{ runId?: string; ms: number; kind?: string }> {
  const runId = randomUUID();
  const started = performance.now();
  const lookup = await cache.lookupForRun({
    runId, tenantId, question, options: { model: 'keel-offline-1' }, control: { lookup: true, store: true }, entry: { usage: {}, lineage: {} }, heartbeat: noop, sleep,
  });
  const ms = performance.now() - started;
  if (lookup.ticket) await cache.release(lookup.ticket, runId);
  return lookup.hit ? { runId: lookup.hit.originalRunId, ms, kind: lookup.hit.kind } : { ms };
}

async function newTenant(db: Db, threshold: number | undefined): Promise<string> {
  const id = randomUUID();
  await db.tenant.create({ data: { id, name: `eval-${id}`, cacheSimilarityThreshold: threshold ?? null } });
  return id;
}

async function main(): Promise<void> {
  const file = process.argv.slice(2).find((a) => !a.startsWith('--') && !/^\d/.test(a));
  if (!file) throw new Error('usage: npm run eval:cache -- <file.jsonl> [--threshold 0.93] [--limit N] [--nearest]');
  const limit = Number(arg('limit') ?? Infinity);
  const threshold = arg('threshold') !== undefined ? Number(arg('threshold')) : undefined;
  const rows = readFileSync(file, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as Row).slice(0, limit);
  const labelled = rows.some((r) => r.same !== undefined);

  const model = await startModelServer({ port: 0 });
  if (model.embeddingFallbackReason) throw new Error(`the offline embedding model is not installed: ${model.embeddingFallbackReason}`);
  const database = await createTestDatabase('eval-cache');
  const prefix = `keel-eval:${randomUUID()}:`;
  const config = loadConfig({ ...process.env, DATABASE_URL: database.url, KEEL_REDIS_PREFIX: prefix, OPENAI_BASE_URL: model.url, OPENAI_API_KEY: 'eval', KEEL_EMBEDDING_MODEL: SENTENCE_EMBEDDING_MODEL });
  const db = createPrisma(database.url);
  const redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: 1 });
  const cache = createResultCache(config, { redis, db, llm: new OpenAI({ baseURL: model.url, apiKey: 'eval', maxRetries: 0 }) });
  const started = Date.now();
  try {
    // Pass 1: every a stored, every b looked up.
    const tenant = await newTenant(db, threshold);
    const ownRun: string[] = [];
    for (const [i, r] of rows.entries()) ownRun[i] = (await storeQuestion(cache, tenant, r.a, `row ${i}`)) ?? '';
    let hits = 0, positives = 0, wrongHits = 0, falseHits = 0, negatives = 0;
    const latencies: number[] = [];
    const hitLatencies: number[] = [];
    for (const [i, r] of rows.entries()) {
      const got = await lookUp(cache, tenant, r.b);
      latencies.push(got.ms);
      if (got.runId) hitLatencies.push(got.ms);
      if (r.same === false) {
        negatives++;
        if (got.runId) falseHits++;
      } else {
        positives++;
        if (got.runId === ownRun[i]) hits++;
        else if (got.runId) wrongHits++;
      }
    }
    const report: Record<string, unknown> = {
      file, rows: rows.length, threshold: threshold ?? config.KEEL_CACHE_SIMILARITY_THRESHOLD, embeddingModel: SENTENCE_EMBEDDING_MODEL,
      hitRate: positives ? hits / positives : null, positives,
      wrongHitsOnPositives: wrongHits,
      falseHitRate: negatives ? falseHits / negatives : null, negatives,
      lookupMs: { p50: percentile(latencies, 50), p99: percentile(latencies, 99), hitP50: percentile(hitLatencies, 50) },
    };
    if (!labelled) {
      // Pairwise, as the pairs were collected: row i's a alone in a cache (its own tenant), looked
      // up with the next row's b — a different question that must not be answered by it.
      let pairFalseHits = 0;
      for (const [i, r] of rows.entries()) {
        const alone = await newTenant(db, threshold);
        await storeQuestion(cache, alone, r.a, `row ${i}`);
        if ((await lookUp(cache, alone, rows[(i + 1) % rows.length]!.b)).runId) pairFalseHits++;
      }
      report.falseHitsPairwise = { pairs: rows.length, falseHits: pairFalseHits, rate: pairFalseHits / rows.length };
      report.falseHitRate = pairFalseHits / rows.length;
      if (process.argv.includes('--nearest')) {
        // Stricter: a cache of the first half's a's, the second half's b's looked up in it; a hit on
        // any of the candidates is false (no b has its own a there).
        const half = Math.floor(rows.length / 2);
        const other = await newTenant(db, threshold);
        for (const [i, r] of rows.slice(0, half).entries()) await storeQuestion(cache, other, r.a, `row ${i}`);
        let falseHit = 0;
        const lookups = rows.slice(half);
        for (const r of lookups) if ((await lookUp(cache, other, r.b)).runId) falseHit++;
        report.falseHitsNearestNeighbour = { lookups: lookups.length, candidatesPerLookup: half, falseHits: falseHit, rate: falseHit / lookups.length };
      }
    }
    report.seconds = Math.round((Date.now() - started) / 1000);
    console.log(JSON.stringify(report, (_k, v: unknown) => (typeof v === 'number' && !Number.isInteger(v) ? Number(v.toFixed(4)) : v), 2));
  } finally {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await redis.unlink(...keys);
    } while (cursor !== '0');
    redis.disconnect();
    await db.$disconnect();
    await database.drop();
    await model.close();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
