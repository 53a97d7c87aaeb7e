import { randomUUID } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import { cpuShare, startCpuMeter, startRssSampler, sumOf, type CpuSample, type ProcessName } from './cpu';
import { BASELINE_PROCESSES, KEEL_PROCESSES, times } from './answer-overhead';
import { closedLoop, describeError } from './load';
import { awaitWorkflow, benchQuestion, startBaselineRun, submitAnswerRun, timedKeelRun } from './runs';
import { failureSamples, type BenchContext, type Section, type SectionOutcome } from './section';
import { ratio, round, summarize, type LatencySummary } from './stats';

const WARMUP_CONCURRENCY = 5;

interface BurstResult {
  completed: number;
  ids: string[];
  errors: string[];
  wallMs: number;
  allAcceptedMs: number;
  completion: LatencySummary;
  cpu: CpuSample;
  peakRssMiB: Partial<Record<ProcessName, number>>;
  peakModelCalls: number;
}

/** Submits `n` runs at once and waits for every one; the clock stops at the last completion. */
async function fire(ctx: BenchContext, n: number, submit: (i: number) => Promise<string>, rssOf: Partial<Record<ProcessName, number>>): Promise<BurstResult> {
  const { stack, options } = ctx;
  const acceptedAt: number[] = [];
  const completedAt: number[] = [];
  const ids: string[] = [];
  const errors: string[] = [];
  stack.model.reset();
  stack.model.setLatency(options.BENCH_BURST_LATENCY_MS);
  const stopRss = startRssSampler(rssOf);
  const cpu = startCpuMeter(stack.processes);
  const started = performance.now();
  try {
    await Promise.all(
      Array.from({ length: n }, async (_, i) => {
        try {
          const id = await submit(i);
          acceptedAt.push(performance.now() - started);
          ids.push(id);
          await awaitWorkflow(stack.observer, id, options.BENCH_RUN_TIMEOUT_MS);
          completedAt.push(performance.now() - started);
        } catch (err) {
          errors.push(describeError(err));
        }
      }),
    );
  } finally {
    stack.model.setLatency(0);
  }
  const wallMs = performance.now() - started;
  return {
    completed: completedAt.length,
    ids,
    errors,
    wallMs: round(wallMs),
    allAcceptedMs: round(Math.max(0, ...acceptedAt)),
    completion: summarize(completedAt),
    cpu: cpu(),
    peakRssMiB: stopRss(),
    peakModelCalls: stack.model.counters().chat.peakInFlight,
  };
}

/**
 * Many slow model calls at once, Keel against the bare-Temporal baseline in the same run (issue
 * 15): every run is submitted at once with the model answering after BENCH_BURST_LATENCY_MS; the
 * clock stops when the last run completes. Also: what a durable, queue-backed engine buys over a
 * server that answers one request at a time.
 */
export const burst: Section = {
  id: 'burst',
  title: 'Burst',
  async run(ctx: BenchContext): Promise<SectionOutcome> {
    const { stack, options } = ctx;
    const { BENCH_BURST_RUNS: n, BENCH_BURST_LATENCY_MS: latencyMs, BENCH_RUN_TIMEOUT_MS: timeoutMs } = options;
    const slots = stack.workerSettings.maxConcurrentActivityTaskExecutions;
    const errors: string[] = [];

    stack.model.reset();
    ctx.progress(`warming up: ${options.BENCH_WARMUP_RUNS} runs`);
    const warm = await closedLoop(options.BENCH_WARMUP_RUNS, WARMUP_CONCURRENCY, (i) => timedKeelRun(stack, benchQuestion('burst-warm-up', i), timeoutMs));
    errors.push(...warm.failures.map((f) => `warm-up: ${f.error}`));

    ctx.progress(`Keel: ${n} runs submitted at once, model latency ${latencyMs} ms`);
    const keel = await fire(ctx, n, (i) => submitAnswerRun(stack, benchQuestion('burst', i)), { api: stack.processes.api, worker: stack.processes.worker });
    errors.push(...keel.errors.map((e) => `keel burst: ${e}`));
    ctx.progress(`baseline: ${n} runs started at once, model latency ${latencyMs} ms`);
    const base = await fire(
      ctx,
      n,
      async (i) => {
        const id = `bench-burst-${randomUUID()}`;
        await startBaselineRun(stack, id, benchQuestion('burst-baseline', i));
        return id;
      },
      { baselineWorker: stack.processes.baselineWorker },
    );
    errors.push(...base.errors.map((e) => `baseline burst: ${e}`));

    const storedCompleted = keel.ids.length ? await stack.db.run.count({ where: { id: { in: keel.ids }, status: 'completed' } }) : 0;
    const notStored = keel.completed - storedCompleted;
    if (notStored > 0) errors.push(`keel burst: ${notStored} completed workflows without a completed run row`);
    const failed = n - keel.completed + Math.max(0, notStored) + (n - base.completed);

    const cores = availableParallelism();
    const cpuSeconds = (r: BurstResult, names: readonly ProcessName[]) => sumOf(r.cpu.seconds, names);
    // If all the measured processes' CPU were spread perfectly over the cores, the burst could not end sooner.
    const cpuFloorMs = (r: BurstResult) => round((Object.values(r.cpu.seconds).reduce((sum, v) => sum + v, 0) / cores) * 1000);
    const slotFloorMs = Math.ceil(n / slots) * latencyMs;
    const wallRatio = ratio(keel.wallMs, base.wallMs);
    const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
    const share = (r: BurstResult, names: readonly ProcessName[]) => names.map((p) => `${cpuShare(r.cpu)[p] ?? 'n/a'}%`).join(' / ');
    const keelCpuPerRun = round((cpuSeconds(keel, KEEL_PROCESSES) / Math.max(1, keel.completed)) * 1000);
    const baseCpuPerRun = round((cpuSeconds(base, BASELINE_PROCESSES) / Math.max(1, base.completed)) * 1000);
    const bound = (r: BurstResult) => {
      const floor = cpuFloorMs(r);
      return floor >= r.wallMs * 0.8
        ? `CPU: the measured processes used ${seconds(floor * cores)} of CPU, ${seconds(floor)} of wall on ${cores} cores`
        : `not CPU alone (${seconds(floor)} of ${cores}-core CPU); model slots' floor ${seconds(slotFloorMs)}, peak ${r.peakModelCalls} calls in flight`;
    };

    return {
      setup:
        `${n} runs submitted at once with the offline model at ${latencyMs} ms per call, after ${options.BENCH_WARMUP_RUNS} warm-up runs: ` +
        'Keel through `POST /v1/runs`, then the bare-Temporal baseline (same guardrail, retrieval and model code) through ' +
        'StartWorkflowExecution. Wall time runs from the first submit until the last workflow completes (observed with `handle.result()`). ' +
        `Peak RSS is sampled every 250 ms during each burst. The synchronous reference answers one request at a time: ${n} × ${latencyMs} ms.`,
      columns: ['Metric', 'Keel', 'Baseline (bare Temporal)', 'Keel / baseline'],
      rows: [
        ['Runs completed / failed', `${keel.completed} / ${n - keel.completed + Math.max(0, notStored)}`, `${base.completed} / ${n - base.completed}`, ''],
        ['All submits accepted after', seconds(keel.allAcceptedMs), seconds(base.allAcceptedMs), ''],
        ['All runs completed after (wall)', seconds(keel.wallMs), seconds(base.wallMs), times(wallRatio)],
        ['Run completion p50 / p95 (from burst start)', `${seconds(keel.completion.p50Ms)} / ${seconds(keel.completion.p95Ms)}`, `${seconds(base.completion.p50Ms)} / ${seconds(base.completion.p95Ms)}`, ''],
        ['Speed-up vs a synchronous server', `${ratio(n * latencyMs, keel.wallMs).toFixed(1)}×`, `${ratio(n * latencyMs, base.wallMs).toFixed(1)}×`, ''],
        ['Peak concurrent model calls', String(keel.peakModelCalls), String(base.peakModelCalls), ''],
        ['CPU (% of one core): API / worker / Temporal server', share(keel, KEEL_PROCESSES), `— / ${share(base, BASELINE_PROCESSES)}`, ''],
        ['CPU per run (ms): API + worker + Temporal server', String(keelCpuPerRun), String(baseCpuPerRun), times(ratio(keelCpuPerRun, baseCpuPerRun))],
        ['Peak RSS (MiB): API / worker', `${keel.peakRssMiB.api ?? 'n/a'} / ${keel.peakRssMiB.worker ?? 'n/a'}`, `— / ${base.peakRssMiB.baselineWorker ?? 'n/a'}`, ''],
        ['What bounds the wall time', bound(keel), bound(base), ''],
      ],
      metrics: {
        runs: n,
        modelLatencyMs: latencyMs,
        llmActivitySlots: slots,
        slotFloorMs,
        keel: { ...keel, ids: undefined, errors: undefined, cpuShare: cpuShare(keel.cpu), cpuPerRunMs: keelCpuPerRun, cpuFloorMs: cpuFloorMs(keel) },
        baseline: { ...base, ids: undefined, errors: undefined, cpuShare: cpuShare(base.cpu), cpuPerRunMs: baseCpuPerRun, cpuFloorMs: cpuFloorMs(base) },
        ratios: { wall: wallRatio },
      },
      failures: { count: failed + warm.failures.length, samples: failureSamples(errors) },
      notes: [],
    };
  },
};
