import { randomUUID } from 'node:crypto';
import { addCpu, cpuPerRun, cpuShare, formatCpuShare, startCpuMeter, type CpuPerRun, type CpuSample } from './cpu';
import { closedLoop, type LoadResult } from './load';
import { benchQuestion, timedBaselineRun, timedKeelRun, type TimedRun } from './runs';
import { failureSamples, type BenchContext, type Section, type SectionOutcome } from './section';
import { ratio, round, summarize, type LatencySummary } from './stats';

interface Measured {
  runs: number;
  failed: number;
  wallMs: number;
  runsPerSecond: number;
  latency: LatencySummary;
  accepted: LatencySummary;
}

function measure(results: Array<LoadResult<TimedRun>>): Measured {
  const samples = results.flatMap((r) => r.samples);
  const wallMs = results.reduce((sum, r) => sum + r.wallMs, 0);
  return {
    runs: samples.length,
    failed: results.reduce((sum, r) => sum + r.failures.length, 0),
    wallMs: round(wallMs),
    runsPerSecond: round(samples.length / (wallMs / 1000), 2),
    latency: summarize(samples.map((s) => s.totalMs)),
    accepted: summarize(samples.map((s) => s.acceptedMs)),
  };
}

const fmt = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');
const formatPerRun = (c: CpuPerRun) =>
  `${fmt(c.benchProcessMs)} + ${c.temporalServerMs === null ? 'n/a' : fmt(c.temporalServerMs)} = ${fmt(c.totalMs)}`;
const times = (n: number) => (Number.isFinite(n) ? `${n.toFixed(2)}×` : 'n/a');

/**
 * What the answer workflow costs on top of Temporal: the same number of activities on the same
 * server and worker settings, once as Keel (HTTP API, auth, Postgres writes, ledger rows,
 * search attributes, a real HTTP model call) and once as a bare workflow of no-op activities.
 */
export const answerOverhead: Section = {
  id: 'answer-overhead',
  title: 'Answer workflow overhead',
  async run(ctx: BenchContext): Promise<SectionOutcome> {
    const { stack, options } = ctx;
    const { BENCH_RUNS: total, BENCH_CONCURRENCY: concurrency, BENCH_ROUNDS: rounds, BENCH_RUN_TIMEOUT_MS: timeoutMs } = options;
    stack.model.reset();
    stack.model.setLatency(0);

    const keelRun = (label: string) => (i: number) => timedKeelRun(stack, benchQuestion(label, i), timeoutMs);
    const baselineRun = (label: string) => (i: number) =>
      timedBaselineRun(stack, `bench-baseline-${randomUUID()}`, benchQuestion(label, i), timeoutMs);

    const stopBaseline = await stack.startBaselineWorkers();
    const warmFailures: string[] = [];
    const keel: Array<LoadResult<TimedRun>> = [];
    const base: Array<LoadResult<TimedRun>> = [];
    const keelCpu: CpuSample[] = [];
    const baseCpu: CpuSample[] = [];
    try {
      ctx.progress(`warming up: ${options.BENCH_WARMUP_RUNS} runs each`);
      for (const warm of [
        await closedLoop(options.BENCH_WARMUP_RUNS, concurrency, baselineRun('warm-up')),
        await closedLoop(options.BENCH_WARMUP_RUNS, concurrency, keelRun('warm-up')),
      ]) {
        warmFailures.push(...warm.failures.map((f) => `warm-up: ${f.error}`));
      }

      const runsPerRound = Math.ceil(total / rounds);
      for (let roundIndex = 0, done = 0; done < total; roundIndex++, done += runsPerRound) {
        const n = Math.min(runsPerRound, total - done);
        // Alternating which goes first cancels out a steady drift in either direction.
        const order = roundIndex % 2 === 0 ? (['baseline', 'keel'] as const) : (['keel', 'baseline'] as const);
        for (const which of order) {
          ctx.progress(`round ${roundIndex + 1}/${rounds}: ${n} ${which} runs, ${concurrency} in flight`);
          const cpu = startCpuMeter(stack.temporalServerPid);
          if (which === 'keel') {
            keel.push(await closedLoop(n, concurrency, (i) => keelRun(`r${roundIndex}`)(done + i)));
            keelCpu.push(cpu());
          } else {
            base.push(await closedLoop(n, concurrency, (i) => baselineRun(`r${roundIndex}`)(done + i)));
            baseCpu.push(cpu());
          }
        }
      }
    } finally {
      await stopBaseline();
    }

    const keelRunIds = keel.flatMap((r) => r.samples.map((s) => s.id));
    // A run whose workflow completed but whose row says otherwise is a failure too.
    const storedCompleted = keelRunIds.length
      ? await stack.db.run.count({ where: { id: { in: keelRunIds }, status: 'completed' } })
      : 0;
    const notStored = keelRunIds.length - storedCompleted;

    const withCpu = (results: Array<LoadResult<TimedRun>>, cpu: CpuSample[]) => {
      const m = measure(results);
      const used = addCpu(cpu);
      return { ...m, cpu: cpuShare(used), cpuPerRun: cpuPerRun(used, m.runs + m.failed) };
    };
    const k = withCpu(keel, keelCpu);
    const b = withCpu(base, baseCpu);
    const errors = [
      ...warmFailures,
      ...keel.flatMap((r) => r.failures.map((f) => `keel: ${f.error}`)),
      ...base.flatMap((r) => r.failures.map((f) => `baseline: ${f.error}`)),
      ...(notStored > 0 ? [`keel: ${notStored} completed workflows without a completed run row`] : []),
    ];
    const failureCount = warmFailures.length + k.failed + b.failed + notStored;

    const roundRate = (r: LoadResult<TimedRun>) => round(r.samples.length / (r.wallMs / 1000), 2);
    const perRound = keel.map((kr, i) => {
      const br = base[i];
      return { keelRunsPerSecond: roundRate(kr), baselineRunsPerSecond: br ? roundRate(br) : Number.NaN };
    });
    const throughputRatio = ratio(k.runsPerSecond, b.runsPerSecond);
    const cpuRatio = ratio(k.cpuPerRun.totalMs, b.cpuPerRun.totalMs);
    const latencyRatio = (p: 'p50Ms' | 'p95Ms' | 'p99Ms') => ratio(k.latency[p], b.latency[p]);
    const rows = [
      ['Throughput (runs/s)', fmt(k.runsPerSecond, 2), fmt(b.runsPerSecond, 2), times(throughputRatio)],
      ['Latency p50 (ms)', fmt(k.latency.p50Ms), fmt(b.latency.p50Ms), times(latencyRatio('p50Ms'))],
      ['Latency p95 (ms)', fmt(k.latency.p95Ms), fmt(b.latency.p95Ms), times(latencyRatio('p95Ms'))],
      ['Latency p99 (ms)', fmt(k.latency.p99Ms), fmt(b.latency.p99Ms), times(latencyRatio('p99Ms'))],
      ['Accept p50 / p95 (ms)', `${fmt(k.accepted.p50Ms)} / ${fmt(k.accepted.p95Ms)}`, `${fmt(b.accepted.p50Ms)} / ${fmt(b.accepted.p95Ms)}`, ''],
      [
        'Throughput per round (runs/s)',
        perRound.map((r) => fmt(r.keelRunsPerSecond, 1)).join(', '),
        perRound.map((r) => fmt(r.baselineRunsPerSecond, 1)).join(', '),
        perRound.map((r) => times(ratio(r.keelRunsPerSecond, r.baselineRunsPerSecond))).join(', '),
      ],
      ['Runs completed / failed', `${k.runs} / ${k.failed + notStored}`, `${b.runs} / ${b.failed}`, ''],
      ['CPU: bench process / Temporal server (% of one core)', formatCpuShare(k.cpu), formatCpuShare(b.cpu), ''],
      ['CPU per run: bench process + Temporal server (ms)', formatPerRun(k.cpuPerRun), formatPerRun(b.cpuPerRun), times(cpuRatio)],
    ];

    return {
      setup:
        `${total} runs each, ${concurrency} in flight (closed loop), in ${rounds} alternating rounds after ` +
        `${options.BENCH_WARMUP_RUNS} warm-up runs each; offline model at 0 ms latency. ` +
        'Keel: `POST /v1/runs` through the HTTP API, then the `answer` workflow (4 activities, `generate` on keel-llm). ' +
        'Baseline: a bare workflow with 4 no-op activities (one on a second task queue) started with the Temporal client. ' +
        'Latency is submit → completion, observed by long-polling the workflow result (`handle.result()`) on a separate ' +
        'connection, not by polling the API. Ratios are Keel / baseline: below 1× throughput and above 1× latency is overhead.',
      columns: ['Metric', 'Keel (HTTP API)', 'Baseline (bare Temporal)', 'Keel / baseline'],
      rows,
      metrics: {
        runs: total,
        concurrency,
        rounds,
        warmupRuns: options.BENCH_WARMUP_RUNS,
        modelLatencyMs: 0,
        keel: k,
        baseline: b,
        perRound,
        ratios: {
          throughput: throughputRatio,
          p50: latencyRatio('p50Ms'),
          p95: latencyRatio('p95Ms'),
          p99: latencyRatio('p99Ms'),
          cpuPerRun: cpuRatio,
        },
        modelCalls: stack.model.counters().chat.completed,
      },
      failures: { count: failureCount, samples: failureSamples(errors) },
      notes: [],
    };
  },
};
