import { availableParallelism, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { cpuShare, formatCpuShare, startCpuMeter, type CpuShare } from './cpu';
import { closedLoop, describeError } from './load';
import { awaitWorkflow, benchQuestion, submitAnswerRun, timedKeelRun } from './runs';
import { failureSamples, type BenchContext, type Section, type SectionOutcome } from './section';
import { ratio, round, summarize } from './stats';

const WARMUP_CONCURRENCY = 5;

interface OverheadMetrics {
  keel?: { runsPerSecond?: number };
  baseline?: { runsPerSecond?: number };
}

function cpuSummary(cpu: CpuShare): string {
  const available = availableParallelism() * 100;
  const used = cpu.benchProcessPct + (cpu.temporalServerPct ?? 0);
  const server = cpu.temporalServerPct === null ? '' : ` and the Temporal server ${cpu.temporalServerPct}%`;
  const summary = `the bench process used ${cpu.benchProcessPct}%${server} of one core, out of ${available}%`;
  // Well short of the machine means the rest went to Postgres or to processes outside the benchmark.
  return used < available * 0.75
    ? `${summary}; Postgres and other processes had the rest, 1-minute load average ${loadavg()[0]?.toFixed(1)}`
    : summary;
}

/** Says which limit the burst hit, from what was observed rather than what was expected. */
function boundNote(o: {
  n: number;
  latencyMs: number;
  slots: number;
  peak: number;
  completionRate: number;
  slotBoundMs: number;
  cpu: CpuShare;
  ctx: BenchContext;
}): string {
  const slotsSetting =
    `keel-llm's activity slots (maxConcurrentActivityTaskExecutions = ${o.slots} per worker, ` +
    'KEEL_WORKER_MAX_CONCURRENT_ACTIVITIES)';
  const others =
    `Workflow task slots (${o.ctx.stack.workerSettings.maxConcurrentWorkflowTaskExecutions}, SDK default) are held for ` +
    'milliseconds per task, and keel-llm has no rate limit (KEEL_LLM_MAX_PER_SECOND unset).';
  if (o.peak >= o.slots) {
    return (
      `Bounded by ${slotsSetting}: model calls in flight reached the limit, so ${o.n} calls of ${o.latencyMs} ms ` +
      `need at least ${(o.slotBoundMs / 1000).toFixed(2)} s with one worker. More workers or more slots lower that floor. ${others}`
    );
  }
  const overhead = o.ctx.earlier.find((r) => r.id === 'answer-overhead')?.metrics as OverheadMetrics | undefined;
  const keelRps = overhead?.keel?.runsPerSecond;
  const baseRps = overhead?.baseline?.runsPerSecond;
  const comparison =
    keelRps !== undefined && baseRps !== undefined
      ? `, the same order as the closed-loop throughput above at 0 ms latency (Keel ${keelRps.toFixed(2)} runs/s, ` +
        `bare Temporal ${baseRps.toFixed(2)} runs/s)`
      : '';
  return (
    `Not bounded by ${slotsSetting}: at most ${o.peak} model calls were in flight at once. Runs finished at ` +
    `${o.completionRate.toFixed(2)} runs/s${comparison}. The limit is how fast one Temporal dev server ` +
    `(in-memory SQLite) and one worker process move workflow and activity tasks with the CPU they get on this ` +
    `machine's ${availableParallelism()} cores (${cpuSummary(o.cpu)}); the model's latency is overlapped, not serialized. ${others}`
  );
}

/**
 * Many slow model calls at once: what a durable, queue-backed engine buys over a server that
 * answers one request at a time. Every POST is sent at once; the clock stops when the last
 * run's workflow completes.
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
    const warm = await closedLoop(options.BENCH_WARMUP_RUNS, WARMUP_CONCURRENCY, (i) =>
      timedKeelRun(stack, benchQuestion('burst-warm-up', i), timeoutMs),
    );
    errors.push(...warm.failures.map((f) => `warm-up: ${f.error}`));

    // reset() restores the starting latency, so the burst's latency is set after it.
    stack.model.reset();
    stack.model.setLatency(latencyMs);
    ctx.progress(`${n} runs submitted at once, model latency ${latencyMs} ms`);
    const acceptedAt: number[] = [];
    const completedAt: number[] = [];
    const ids: string[] = [];
    const started = performance.now();
    const cpu = startCpuMeter(stack.temporalServerPid);
    try {
      await Promise.all(
        Array.from({ length: n }, async (_, i) => {
          try {
            const id = await submitAnswerRun(stack, benchQuestion('burst', i));
            acceptedAt.push(performance.now() - started);
            ids.push(id);
            await awaitWorkflow(stack.observer, id, timeoutMs);
            completedAt.push(performance.now() - started);
          } catch (err) {
            errors.push(`burst: ${describeError(err)}`);
          }
        }),
      );
    } finally {
      stack.model.setLatency(0);
    }
    const wallMs = performance.now() - started;
    const cpuUsed = cpuShare(cpu());
    const chat = stack.model.counters().chat;

    const storedCompleted = ids.length ? await stack.db.run.count({ where: { id: { in: ids }, status: 'completed' } }) : 0;
    const notStored = completedAt.length - storedCompleted;
    if (notStored > 0) errors.push(`burst: ${notStored} completed workflows without a completed run row`);
    const failed = n - completedAt.length + Math.max(0, notStored);

    const sequentialMs = n * latencyMs;
    const speedUp = ratio(sequentialMs, wallMs);
    // keel-llm's activity slots cap concurrent model calls; nothing else in the path waits a second.
    const slotBoundMs = Math.ceil(n / slots) * latencyMs;
    const completion = summarize(completedAt);
    const completionRate = round(completedAt.length / (wallMs / 1000), 2);
    const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

    return {
      setup:
        `${n} answer runs POSTed concurrently to the HTTP API with the offline model at ${latencyMs} ms per call, ` +
        `after ${options.BENCH_WARMUP_RUNS} warm-up runs. Wall time runs from the first POST until the last ` +
        'workflow completes (observed with `handle.result()`). The reference is a synchronous server that answers ' +
        `one request at a time: ${n} × ${latencyMs} ms.`,
      columns: ['Metric', 'Value'],
      rows: [
        ['Runs completed / failed', `${completedAt.length} / ${failed}`],
        ['All POSTs accepted after', seconds(Math.max(0, ...acceptedAt))],
        ['All runs completed after (wall)', seconds(wallMs)],
        ['Run completion p50 / p95 (from burst start)', `${seconds(completion.p50Ms)} / ${seconds(completion.p95Ms)}`],
        ['Sustained completion rate', `${completionRate.toFixed(2)} runs/s`],
        ['Synchronous one-at-a-time server', seconds(sequentialMs)],
        ['Speed-up vs synchronous', `${speedUp.toFixed(1)}×`],
        [`Floor set by keel-llm activity slots (${slots})`, seconds(slotBoundMs)],
        ['Wall / floor', `${ratio(wallMs, slotBoundMs).toFixed(2)}×`],
        ['Peak concurrent model calls', String(chat.peakInFlight)],
        ['CPU: bench process / Temporal server (% of one core)', formatCpuShare(cpuUsed)],
      ],
      metrics: {
        runs: n,
        modelLatencyMs: latencyMs,
        completed: completedAt.length,
        failed,
        allAcceptedMs: round(Math.max(0, ...acceptedAt)),
        wallMs: round(wallMs),
        completionFromStart: completion,
        sequentialReferenceMs: sequentialMs,
        speedUp,
        completionRunsPerSecond: completionRate,
        llmActivitySlots: slots,
        slotBoundMs,
        wallOverSlotBound: ratio(wallMs, slotBoundMs),
        cpu: cpuUsed,
        modelCalls: { requests: chat.requests, completed: chat.completed, peakInFlight: chat.peakInFlight },
      },
      failures: { count: failed + warm.failures.length, samples: failureSamples(errors) },
      notes: [boundNote({ n, latencyMs, slots, peak: chat.peakInFlight, completionRate, slotBoundMs, cpu: cpuUsed, ctx })],
    };
  },
};
