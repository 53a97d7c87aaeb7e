/**
 * Scores the semantic cache on pairs of questions through the real lookup path — the offline
 * model server's multilingual-e5-small over HTTP through the `openai` SDK, Redis, the sealed
 * values, the in-process index and the false-hit guards — by storing `a` (as a finished run
 * would) and looking up `b` (as a new run would). One implementation for `npm run eval:cache` and
 * the bench's cache section, so both report the same thing.
 */
import { createHash, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import OpenAI from 'openai';
import { createResultCache, type ResultCache } from '../src/cache';
import { loadConfig } from '../src/config';
import type { Db } from '../src/db/client';
import { SENTENCE_EMBEDDING_MODEL } from '../src/model-server/sentence-embedder';

export interface PairRow {
  a: string;
  b: string;
  /** Absent: a paraphrase pair (true), scored pairwise against the other rows too. */
  same?: boolean;
}

export function readPairs(file: string): PairRow[] {
  return readFileSync(file, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as PairRow);
}

/**
 * The deterministic train/eval split of a pair file: SHA-256 of the NFKC-normalised, lower-cased,
 * whitespace-collapsed `a`; its first 32 bits mod 100 below 70 is train. Thresholds and guards
 * are tuned on train only; numbers are reported on eval.
 */
export function splitOf(row: PairRow): 'train' | 'eval' {
  const normalised = row.a.normalize('NFKC').toLowerCase().replace(/\s+/g, ' ').trim();
  return createHash('sha256').update(normalised).digest().readUInt32BE(0) % 100 < 70 ? 'train' : 'eval';
}

/** Every `step`-th row, starting with the first: a deterministic sample that keeps the file's mix. */
export function sampleRows<T>(rows: readonly T[], max: number): T[] {
  if (rows.length <= max) return [...rows];
  const step = rows.length / max;
  return Array.from({ length: max }, (_, i) => rows[Math.floor(i * step)]!);
}

export interface CacheScore {
  rows: number;
  threshold: number;
  /** Rows with `same: true`: `b` answered by its own `a` in a cache holding every row's `a`. */
  hitRate: number | null;
  positives: number;
  /** Positives answered by another row's `a` (in paraphrase files, often a duplicate of the same sentence). */
  answeredByOtherRow: number;
  /** Rows with `same: false`: `b` got any hit (files without `same`: the pairwise rate). */
  falseHitRate: number | null;
  negatives: number;
  /**
   * Files without `same` (paraphrase pairs): each row's `a` alone in a cache, looked up with its
   * own `b` (a hit) and with the next row's `b` (a false hit), as the pairs were labelled.
   */
  pairwise?: { pairs: number; hitRate: number; falseHitRate: number; falseHits: number };
  /** The whole `cacheLookup` path: embedding, Redis, search, guards. */
  lookupMs: { p50: number; p99: number; count: number };
}

const percentile = (xs: number[], p: number) => {
  const sorted = [...xs].sort((x, y) => x - y);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
};

const noop = () => undefined;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A cache on its own Redis key prefix with the sentence-embedding model, for scoring. */
export interface ScoringCache {
  cache: ResultCache;
  db: Db;
  threshold: number;
  close(): Promise<void>;
}

/**
 * Builds a ResultCache like a worker's, embedding with multilingual-e5-small at `modelUrl`, on a
 * scratch Redis prefix (deleted by `close`). `db` is any migrated Keel database: scoring creates
 * one tenant per cache it needs, with `threshold` (undefined: the configured default).
 */
export function openScoringCache(opts: { db: Db; modelUrl: string; redisUrl?: string; threshold?: number }): ScoringCache {
  const prefix = `keel-eval:${randomUUID()}:`;
  const config = loadConfig({
    ...process.env, KEEL_REDIS_PREFIX: prefix, OPENAI_BASE_URL: opts.modelUrl, OPENAI_API_KEY: 'eval', KEEL_EMBEDDING_MODEL: SENTENCE_EMBEDDING_MODEL,
    ...(opts.redisUrl ? { REDIS_URL: opts.redisUrl } : {}),
  });
  const redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: 1 });
  const cache = createResultCache(config, { redis, db: opts.db, llm: new OpenAI({ baseURL: opts.modelUrl, apiKey: 'eval', maxRetries: 0 }) });
  return {
    cache,
    db: opts.db,
    threshold: opts.threshold ?? config.KEEL_CACHE_SIMILARITY_THRESHOLD,
    async close() {
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
        cursor = next;
        if (keys.length) await redis.unlink(...keys);
      } while (cursor !== '0');
      redis.disconnect();
    },
  };
}

async function storeQuestion(s: ScoringCache, tenantId: string, question: string, label: string): Promise<string> {
  const runId = randomUUID();
  const lookup = await s.cache.lookupForRun({
    runId, tenantId, question, options: { model: 'keel-offline-1' }, control: { lookup: true, store: true }, entry: { usage: {}, lineage: {} }, heartbeat: noop, sleep,
  });
  if (lookup.hit) return lookup.hit.originalRunId;
  if (!lookup.ticket) throw new Error('the cache is unavailable (is Redis running?)');
  const result = { answer: `answer for ${label}`, model: 'keel-offline-1', finishReason: 'stop', usage: { promptTokens: 100, completionTokens: 20 } };
  await s.cache.store({ ticket: lookup.ticket, runId, question, result, saved: { tokens: 120, costUsd: 0, latencyMs: 1000 }, entry: { usage: {}, lineage: {} } });
  return runId;
}

async function lookUp(s: ScoringCache, tenantId: string, question: string, latencies: number[]): Promise<string | undefined> {
  const runId = randomUUID();
  const started = performance.now();
  const lookup = await s.cache.lookupForRun({
    runId, tenantId, question, options: { model: 'keel-offline-1' }, control: { lookup: true, store: true }, entry: { usage: {}, lineage: {} }, heartbeat: noop, sleep,
  });
  latencies.push(performance.now() - started);
  if (lookup.ticket) await s.cache.release(lookup.ticket, runId);
  return lookup.hit?.originalRunId;
}

async function newTenant(s: ScoringCache): Promise<string> {
  const id = randomUUID();
  await s.db.tenant.create({ data: { id, name: `eval-${id}`, cacheSimilarityThreshold: s.threshold } });
  return id;
}

/**
 * Scores `rows`. `shared` (default true): every `a` in one cache, every `b` looked up — hit rate
 * on `same: true`, false hits on `same: false`. Rows without `same` are also scored pairwise
 * (each `a` alone; its own `b` must hit, the next row's `b` must not) unless `pairwise` is false.
 */
export async function scorePairs(s: ScoringCache, rows: readonly PairRow[], opts: { shared?: boolean; pairwise?: boolean } = {}): Promise<CacheScore> {
  const latencies: number[] = [];
  let hits = 0, positives = 0, other = 0, falseHits = 0, negatives = 0;
  if (opts.shared ?? true) {
    const tenant = await newTenant(s);
    const ownRun: string[] = [];
    for (const [i, r] of rows.entries()) ownRun[i] = await storeQuestion(s, tenant, r.a, `row ${i}`);
    for (const [i, r] of rows.entries()) {
      const got = await lookUp(s, tenant, r.b, latencies);
      if (r.same === false) {
        negatives++;
        if (got) falseHits++;
      } else {
        positives++;
        if (got === ownRun[i]) hits++;
        else if (got) other++;
      }
    }
  }
  const score: CacheScore = {
    rows: rows.length, threshold: s.threshold,
    hitRate: positives ? hits / positives : null, positives, answeredByOtherRow: other,
    falseHitRate: negatives ? falseHits / negatives : null, negatives,
    lookupMs: { p50: 0, p99: 0, count: 0 },
  };
  const unlabelled = rows.filter((r) => r.same === undefined);
  if ((opts.pairwise ?? true) && unlabelled.length > 1) {
    let pairHits = 0, pairFalse = 0;
    for (const [i, r] of unlabelled.entries()) {
      const alone = await newTenant(s);
      const own = await storeQuestion(s, alone, r.a, `row ${i}`);
      if ((await lookUp(s, alone, r.b, latencies)) === own) pairHits++;
      if (await lookUp(s, alone, unlabelled[(i + 1) % unlabelled.length]!.b, latencies)) pairFalse++;
    }
    score.pairwise = { pairs: unlabelled.length, hitRate: pairHits / unlabelled.length, falseHitRate: pairFalse / unlabelled.length, falseHits: pairFalse };
    // A file of paraphrase pairs has no labelled negatives: its false-hit rate is the pairwise one.
    if (negatives === 0) score.falseHitRate = score.pairwise.falseHitRate;
  }
  score.lookupMs = { p50: percentile(latencies, 50), p99: percentile(latencies, 99), count: latencies.length };
  return score;
}
