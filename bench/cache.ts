import { existsSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { openScoringCache, readPairs, sampleRows, scorePairs, splitOf, type CacheScore } from '../scripts/cache-scoring';
import { measureIndex } from './cache-index';
import { describeError } from './load';
import { timedKeelRun } from './runs';
import { failureSamples, type BenchContext, type Section, type SectionOutcome } from './section';
import { ratio, summarize } from './stats';

const MODEL_LATENCY_MS = 500;
const FULL_RUNS = 5;
const HITS_PER_RUN = 5;
const INDEX_SIZES = [10_000, 100_000] as const;
const INDEX_LOOKUPS = 200;
/** Rows scored per file: the whole eval split and hard-negative file take ~2.5 min on this machine; the section's budget is ~60 s. */
const PARAPHRASE_SAMPLE = 80;
const HARD_NEGATIVE_SAMPLE = 100;

const repoRoot = path.resolve(__dirname, '..');
/** The shared paraphrase file sits next to the checkout (../shared) or next to a worktree's parent (../../shared). */
function paraphraseFile(): string | undefined {
  const candidates = [process.env.BENCH_CACHE_PARAPHRASES, path.join(repoRoot, '../shared/data/cache/paraphrases.jsonl'), path.join(repoRoot, '../../shared/data/cache/paraphrases.jsonl')];
  return candidates.find((f): f is string => !!f && existsSync(f));
}
const HARD_NEGATIVES = path.join(repoRoot, 'evals/cache/hard-negatives.jsonl');

/** POST the same question again: the API's exact tier answers 201 without starting a workflow. */
async function timedExactHit(ctx: BenchContext, question: string): Promise<{ ms: number; id: string }> {
  const started = performance.now();
  const res = await fetch(`${ctx.stack.baseUrl}/v1/runs`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ctx.stack.apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ type: 'answer', input: { question } }),
  });
  const text = await res.text();
  const ms = performance.now() - started;
  const body = JSON.parse(text) as { cached?: boolean; id: string };
  if (res.status !== 201 || body.cached !== true) throw new Error(`a repeated question answered ${res.status} (cached: ${String(body.cached)}), not a 201 cache hit`);
  return { ms, id: body.id };
}

const pct = (x: number | null | undefined) => (x === null || x === undefined ? 'n/a' : `${(x * 100).toFixed(1)} %`);
const ms = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : 'n/a');

/**
 * Issue 10's cache numbers: an exact hit against a full run through POST /v1/runs with the model
 * at 500 ms; the semantic index's search time at 10k and 100k entries; and hit and false-hit
 * rates through the real lookup path (scripts/cache-scoring.ts, the code `npm run eval:cache`
 * runs) on the paraphrase file's eval split and the hand-written hard negatives.
 */
export const cache: Section = {
  id: 'cache',
  title: 'Result cache: hit vs full run, semantic index, hit and false-hit rates',
  async run(ctx): Promise<SectionOutcome> {
    const { stack } = ctx;
    const errors: string[] = [];
    const rows: string[][] = [];
    const notes: string[] = [];

    ctx.progress(`${FULL_RUNS} full runs at ${MODEL_LATENCY_MS} ms model latency, each repeated ${HITS_PER_RUN} times`);
    stack.model.reset();
    stack.model.setLatency(MODEL_LATENCY_MS);
    const full: number[] = [];
    const hits: number[] = [];
    const hitRuns: string[] = [];
    const label = new Date().toISOString();
    try {
      for (let i = 0; i < FULL_RUNS; i++) {
        const question = `Cache benchmark ${label} question ${i}: who approves travel over budget?`;
        try {
          full.push((await timedKeelRun(stack, question, ctx.options.BENCH_RUN_TIMEOUT_MS)).totalMs);
          for (let k = 0; k < HITS_PER_RUN; k++) {
            const hit = await timedExactHit(ctx, question);
            hits.push(hit.ms);
            hitRuns.push(hit.id);
          }
        } catch (err) {
          errors.push(describeError(err));
        }
      }
    } finally {
      stack.model.setLatency(0);
    }
    const fullRun = summarize(full);
    const exactHit = summarize(hits);
    const speedup = ratio(fullRun.p50Ms, exactHit.p50Ms);
    // The hit's own ledger row times the exact-tier lookup (tenant settings, policy, Redis, unseal);
    // the rest of the request is the API's (auth, limits, validation, input guardrails, the run row).
    const lookups = await stack.db.runStep.findMany({ where: { runId: { in: hitRuns }, step: 'cacheLookup' }, select: { latencyMs: true } });
    const lookup = summarize(lookups.map((l) => l.latencyMs ?? Number.NaN));
    rows.push(
      [`full answer run, model at ${MODEL_LATENCY_MS} ms (POST → completed), p50 / p99`, `${ms(fullRun.p50Ms)} / ${ms(fullRun.p99Ms)} ms`],
      ['exact hit (POST → 201 cached), p50 / p99', `${ms(exactHit.p50Ms)} / ${ms(exactHit.p99Ms)} ms`],
      ['… of which the exact-tier lookup (its ledger row), p50 / p99', `${ms(lookup.p50Ms)} / ${ms(lookup.p99Ms)} ms`],
      ['full run p50 / exact hit p50 (target ≥ 100×)', `${speedup}×`],
    );

    ctx.progress(`semantic index: ${INDEX_SIZES.join(' and ')} entries, ${INDEX_LOOKUPS} lookups each`);
    const index = INDEX_SIZES.map((size) => measureIndex(size, INDEX_LOOKUPS));
    for (const m of index) {
      rows.push([`semantic index search at ${m.entries.toLocaleString('en')} entries, p50 / p99 (recall of the planted paraphrase)`, `${m.searchMsP50} / ${m.searchMsP99} ms (${m.recallOfPlanted})`]);
    }

    const quality: Record<string, CacheScore> = {};
    if (stack.model.embeddingFallbackReason) {
      notes.push(`Hit and false-hit rates not measured: the offline embedding model is not installed (${stack.model.embeddingFallbackReason}).`);
    } else {
      const scoring = openScoringCache({ db: stack.db, modelUrl: stack.model.url, redisUrl: stack.config.REDIS_URL });
      try {
        const file = paraphraseFile();
        if (file) {
          const evalSplit = readPairs(file).filter((r) => splitOf(r) === 'eval');
          const sample = sampleRows(evalSplit, PARAPHRASE_SAMPLE);
          ctx.progress(`paraphrases: ${sample.length} of the eval split's ${evalSplit.length} rows, pairwise`);
          const p = (quality.paraphrasesEval = await scorePairs(scoring, sample, { shared: false }));
          rows.push(
            [`paraphrases.jsonl eval split (${sample.length} of ${evalSplit.length} rows): hit rate, a vs its own b (target ≥ 0.9)`, pct(p.pairwise?.hitRate)],
            ['… false-hit rate, a vs the next row\'s b (target ≤ 1 %)', `${pct(p.pairwise?.falseHitRate)} (${p.pairwise?.falseHits ?? 'n/a'} / ${p.pairwise?.pairs ?? 'n/a'})`],
            ['… lookup p50 / p99 (embedding + Redis + search + guards)', `${ms(p.lookupMs.p50)} / ${ms(p.lookupMs.p99)} ms`],
          );
        } else {
          notes.push('paraphrases.jsonl not found next to the checkout (set BENCH_CACHE_PARAPHRASES): its rows are missing.');
        }
        const hard = readPairs(HARD_NEGATIVES);
        // Negatives and positives sampled separately, so the sample keeps some of each.
        const hardSample = [...sampleRows(hard.filter((r) => r.same === false), HARD_NEGATIVE_SAMPLE * 0.8), ...sampleRows(hard.filter((r) => r.same !== false), HARD_NEGATIVE_SAMPLE * 0.2)];
        ctx.progress(`hard negatives: ${hardSample.length} of ${hard.length} rows`);
        const h = (quality.hardNegatives = await scorePairs(scoring, hardSample));
        rows.push(
          [`hard negatives (${h.negatives} negatives of ${hard.filter((r) => r.same === false).length}): false-hit rate (target 0)`, pct(h.falseHitRate)],
          [`… their paraphrases (${h.positives}): hit rate`, pct(h.hitRate)],
        );
      } finally {
        await scoring.close();
      }
      notes.push(`Threshold ${quality.hardNegatives?.threshold ?? 'n/a'} (KEEL_CACHE_SIMILARITY_THRESHOLD), multilingual-e5-small; rows sampled evenly to keep the section near a minute — \`npm run eval:cache -- <file> [--split eval]\` scores whole files the same way.`);
    }

    return {
      setup: `Exact hits: ${FULL_RUNS} distinct questions each run once through POST /v1/runs with the offline model answering after ${MODEL_LATENCY_MS} ms (the retrieval embedding waits too), timed to the workflow's completion, then posted again ${HITS_PER_RUN} times each; a repeat is answered by the API's exact tier (201, \`cached: true\`) and timed to the response. Index: bench/cache-index.ts (synthetic 384-d vectors shaped like e5's). Rates: scripts/cache-scoring.ts through the real lookup path (embedding over HTTP, Redis, index, guards), on the train/eval split described in docs/caching.md.`,
      columns: ['measure', 'value'],
      rows,
      metrics: { modelLatencyMs: MODEL_LATENCY_MS, fullRun, exactHit, exactLookup: lookup, speedup, index, quality },
      failures: { count: errors.length, samples: failureSamples(errors) },
      notes,
    };
  },
};
