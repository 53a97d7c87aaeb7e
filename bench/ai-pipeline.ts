import { performance } from 'node:perf_hooks';
import { longDocument, makePdf } from '../scripts/make-fixtures';
import { awaitWorkflow, timedKeelRun, uploadDocument } from './runs';
import { failureSamples, type BenchContext, type Section, type SectionOutcome } from './section';
import { ratio, round, summarize } from './stats';

const INGEST_PAGES = 200;
const MODEL_LATENCY_MS = 200;
const RATIO_RUNS = 20;

async function stepLatencies(ctx: BenchContext, runId: string): Promise<Record<string, number>> {
  const steps = await ctx.stack.db.runStep.findMany({ where: { runId, status: 'completed' } });
  const out: Record<string, number> = {};
  for (const s of steps) out[s.step] = (out[s.step] ?? 0) + (s.latencyMs ?? 0);
  return out;
}

/**
 * Ingestion throughput: a generated 200-page PDF (30 lines a page) uploaded through the API and
 * ingested end to end — extract, chunk, embed with the offline embedding model, publish.
 */
export const ingestion: Section = {
  id: 'ingestion',
  title: 'Document ingestion (200-page PDF)',
  async run(ctx): Promise<SectionOutcome> {
    ctx.stack.model.reset();
    ctx.stack.model.setLatency(0);
    // The run's own label makes the bytes (and so the content hash) new on every bench run.
    const pages = longDocument(INGEST_PAGES);
    pages[0]!.push(`Benchmark run ${new Date().toISOString()}`);
    const pdf = await makePdf(pages);
    ctx.progress(`uploading a ${INGEST_PAGES}-page PDF (${(pdf.length / 1024).toFixed(0)} KiB)`);
    const started = performance.now();
    const up = await uploadDocument(ctx.stack, pdf, 'bench.pdf', 'application/pdf');
    await awaitWorkflow(ctx.stack.observer, up.ingestRunId, ctx.options.BENCH_RUN_TIMEOUT_MS);
    const totalMs = performance.now() - started;
    const run = await ctx.stack.db.run.findUniqueOrThrow({ where: { id: up.ingestRunId } });
    const failed = run.status !== 'completed';
    const steps = await stepLatencies(ctx, up.ingestRunId);
    const version = await ctx.stack.db.documentVersion.findFirst({ where: { documentId: up.id } });
    const perSecond = (ms: number | undefined) => (ms ? round(INGEST_PAGES / (ms / 1000), 1) : Number.NaN);
    return {
      setup: `One ${INGEST_PAGES}-page PDF generated with pdf-lib (${(pdf.length / 1024).toFixed(0)} KiB), uploaded with POST /v1/documents and ingested on the bench stack's worker (local object store, offline embedding model at 0 ms latency). Pages/s is pages over wall time from the upload to the workflow's completion; the step rows come from the run ledger.`,
      columns: ['measure', 'ms', 'pages/s'],
      rows: [
        ['upload → ingested (end to end)', String(round(totalMs)), String(perSecond(totalMs))],
        ['extractText (pdf.js, page rows)', String(steps.extractText ?? 'n/a'), String(perSecond(steps.extractText))],
        ['chunkText', String(steps.chunkText ?? 'n/a'), ''],
        ['embedChunks', String(steps.embedChunks ?? 'n/a'), ''],
      ],
      metrics: { pages: INGEST_PAGES, bytes: pdf.length, totalMs: round(totalMs), pagesPerSecond: perSecond(totalMs), chunks: version?.chunkCount ?? null, steps },
      failures: { count: failed ? 1 : 0, samples: failed ? [JSON.stringify(run.error)] : [] },
      notes: [`${version?.chunkCount ?? '?'} chunks.`],
    };
  },
};

/**
 * What the answer pipeline adds around the model: with the offline server answering every chat
 * call after a fixed delay, each run's wall time is split into the model's time (the ledger's
 * `generate` latency) and everything else (API, Temporal, sanitize, retrieval over the ingested
 * corpus, ledger writes, store).
 */
export const answerModelRatio: Section = {
  id: 'answer-model-ratio',
  title: 'Answer pipeline overhead vs model time',
  async run(ctx): Promise<SectionOutcome> {
    ctx.stack.model.reset();
    ctx.stack.model.setLatency(MODEL_LATENCY_MS);
    const totals: number[] = [];
    const models: number[] = [];
    const retrievals: number[] = [];
    const errors: string[] = [];
    try {
      for (let i = 0; i < RATIO_RUNS; i++) {
        try {
          const run = await timedKeelRun(ctx.stack, `Benchmark ratio ${i}: what does line ${i + 1} of page ${i + 2} record?`, ctx.options.BENCH_RUN_TIMEOUT_MS);
          const steps = await stepLatencies(ctx, run.id);
          totals.push(run.totalMs);
          models.push(steps.generate ?? Number.NaN);
          retrievals.push(steps.retrieveContext ?? Number.NaN);
        } catch (err) {
          errors.push(err instanceof Error ? err.message : String(err));
        }
      }
    } finally {
      ctx.stack.model.setLatency(0);
    }
    const total = summarize(totals);
    const model = summarize(models);
    const retrieval = summarize(retrievals);
    const overhead = summarize(totals.map((t, i) => t - (models[i] ?? 0) - (retrievals[i] ?? 0)));
    return {
      setup: `${RATIO_RUNS} sequential answer runs (strategy \`single\`, retrieval over the corpus the ingestion section left) with the offline model server answering after a fixed ${MODEL_LATENCY_MS} ms. Model time is the ledger's \`generate\` latency (the HTTP call plus its ledger writes); retrieval is the \`retrieveContext\` step, whose query embedding is a second call to the same slowed server; overhead is the rest of the POST-to-completion time (API, Temporal task round trips, sanitize, run-status and ledger writes, store).`,
      columns: ['', 'p50 ms', 'p95 ms', 'mean ms'],
      rows: [
        ['run (POST → completed)', String(total.p50Ms), String(total.p95Ms), String(total.meanMs)],
        ['model (generate step)', String(model.p50Ms), String(model.p95Ms), String(model.meanMs)],
        ['retrieval (query embedding at the same latency + SQL)', String(retrieval.p50Ms), String(retrieval.p95Ms), String(retrieval.meanMs)],
        ['orchestration overhead (the rest)', String(overhead.p50Ms), String(overhead.p95Ms), String(overhead.meanMs)],
      ],
      metrics: { modelLatencyMs: MODEL_LATENCY_MS, runs: totals.length, total, model, retrieval, overhead, overheadToModel: ratio(overhead.meanMs, model.meanMs), runToModel: ratio(total.meanMs, model.meanMs) },
      failures: { count: errors.length, samples: failureSamples(errors) },
      notes: [
        `Orchestration overhead / model time (means): ${ratio(overhead.meanMs, model.meanMs)}; whole run / model time: ${ratio(total.meanMs, model.meanMs)}.`,
      ],
    };
  },
};
