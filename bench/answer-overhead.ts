import { randomUUID } from 'node:crypto';
import { temporal } from '@temporalio/proto';
import { HANDBOOK, makePdf } from '../scripts/make-fixtures';
import { addCpu, cpuPerRun, cpuShare, ioPerRun, startCpuMeter, sumOf, type CpuSample, type IoCounts, type ProcessName } from './cpu';
import { closedLoop, type LoadResult } from './load';
import { awaitWorkflow, benchQuestion, timedBaselineRun, timedKeelRun, uploadDocument, type TimedRun } from './runs';
import { failureSamples, type BenchContext, type Section, type SectionOutcome } from './section';
import { ratio, round, summarize, type LatencySummary } from './stats';
import { addCounts, countsPerRun, familyTotals, readTemporalCounts, type TemporalCounts } from './temporal-metrics';
import { workflowPromisesPerRun } from './workflow-promises';

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

/** The processes whose CPU a run costs: Keel's API, worker and the Temporal server; the baseline's worker and the server. */
export const KEEL_PROCESSES: readonly ProcessName[] = ['api', 'worker', 'temporalServer'];
export const BASELINE_PROCESSES: readonly ProcessName[] = ['baselineWorker', 'temporalServer'];

/**
 * Transactions the bench's database has committed or rolled back (every autocommit statement is
 * one): a count of Postgres round trips that contention cannot blur, unlike CPU time. Backends
 * publish their counts within about a second of going idle, so callers read it after a pause.
 */
async function pgTransactions(db: BenchContext['stack']['db']): Promise<number> {
  const rows = await db.$queryRaw<Array<{ n: bigint }>>`SELECT xact_commit + xact_rollback AS n FROM pg_stat_database WHERE datname = current_database()`;
  return Number(rows[0]?.n ?? 0);
}

/**
 * Mean history length, in events and in encoded bytes, of some completed workflows: what each run
 * makes the Temporal server store and send. `first` is one of them, for replaying.
 */
async function historySize(client: BenchContext['stack']['observer'], ids: string[]): Promise<{ events: number; bytes: number; first?: temporal.api.history.v1.IHistory }> {
  const histories = await Promise.all(ids.map((id) => client.workflow.getHandle(id).fetchHistory()));
  const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : Number.NaN);
  return {
    events: mean(histories.map((h) => h.events?.length ?? 0)),
    bytes: mean(histories.map((h) => temporal.api.history.v1.History.encode(h).finish().length)),
    ...(histories[0] ? { first: histories[0] } : {}),
  };
}

const fmt = (n: number | undefined, digits = 1) => (n !== undefined && Number.isFinite(n) ? n.toFixed(digits) : 'n/a');
export const times = (n: number) => (Number.isFinite(n) ? `${n.toFixed(2)}×` : 'n/a');

/**
 * What the answer pipeline costs on top of Temporal (issue 15). Keel: `POST /v1/runs` to the API
 * process, the `answer` workflow on the worker process. Baseline: a bare workflow that runs the
 * same guardrail, retrieval and model code (bench/baseline-activities.ts) with none of Keel's
 * bookkeeping, started with the Temporal client. Both answer over the same small corpus.
 */
export const answerOverhead: Section = {
  id: 'answer-overhead',
  title: 'Answer pipeline vs bare Temporal',
  async run(ctx: BenchContext): Promise<SectionOutcome> {
    const { stack, options } = ctx;
    const { BENCH_RUNS: total, BENCH_CONCURRENCY: concurrency, BENCH_ROUNDS: rounds, BENCH_RUN_TIMEOUT_MS: timeoutMs } = options;
    stack.model.reset();
    stack.model.setLatency(0);

    // A small corpus, so retrieval, context screening and the grounded prompt do real work on both sides.
    const corpus = await uploadDocument(stack, await makePdf(HANDBOOK), 'handbook.pdf', 'application/pdf');
    await awaitWorkflow(stack.observer, corpus.ingestRunId, timeoutMs);
    const chunks = await stack.db.chunk.count({ where: { tenantId: stack.tenantId } });

    const keelRun = (label: string) => (i: number) => timedKeelRun(stack, benchQuestion(label, i), timeoutMs);
    const baselineRun = (label: string) => (i: number) => timedBaselineRun(stack, `bench-baseline-${randomUUID()}`, benchQuestion(label, i), timeoutMs);

    const warmFailures: string[] = [];
    const keel: Array<LoadResult<TimedRun>> = [];
    const base: Array<LoadResult<TimedRun>> = [];
    const keelCpu: CpuSample[] = [];
    const baseCpu: CpuSample[] = [];
    const transactions = { keel: 0, baseline: 0 };
    const temporalWork: Record<'keel' | 'baseline', TemporalCounts> = { keel: {}, baseline: {} };
    const settle = () => new Promise((resolve) => setTimeout(resolve, 1_500));
    ctx.progress(`warming up: ${options.BENCH_WARMUP_RUNS} runs each (corpus: ${chunks} chunks)`);
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
        await settle();
        const xactsBefore = await pgTransactions(stack.db);
        const temporalBefore = await readTemporalCounts(stack.temporalMetricsUrl);
        const cpu = startCpuMeter(stack.processes);
        if (which === 'keel') {
          keel.push(await closedLoop(n, concurrency, (i) => keelRun(`r${roundIndex}`)(done + i)));
          keelCpu.push(cpu());
        } else {
          base.push(await closedLoop(n, concurrency, (i) => baselineRun(`r${roundIndex}`)(done + i)));
          baseCpu.push(cpu());
        }
        await settle();
        // The reading itself and the reconciler's passes during the pauses are in Keel's count too.
        transactions[which] += (await pgTransactions(stack.db)) - xactsBefore;
        // The same for the Temporal server: Keel's count includes its reconciler's visibility queries.
        addCounts(temporalWork[which], temporalBefore, await readTemporalCounts(stack.temporalMetricsUrl));
      }
    }

    const keelRunIds = keel.flatMap((r) => r.samples.map((s) => s.id));
    // A run whose workflow completed but whose row says otherwise is a failure too.
    const storedCompleted = keelRunIds.length ? await stack.db.run.count({ where: { id: { in: keelRunIds }, status: 'completed' } }) : 0;
    const notStored = keelRunIds.length - storedCompleted;

    const withCpu = (results: Array<LoadResult<TimedRun>>, cpu: CpuSample[]) => {
      const m = measure(results);
      const used = addCpu(cpu);
      return { ...m, cpu: cpuShare(used), cpuPerRun: cpuPerRun(used, m.runs + m.failed), ioPerRun: ioPerRun(used, m.runs + m.failed) };
    };
    const k = withCpu(keel, keelCpu);
    const b = withCpu(base, baseCpu);
    const temporalPerRun = {
      keel: countsPerRun({}, temporalWork.keel, k.runs + k.failed),
      baseline: countsPerRun({}, temporalWork.baseline, b.runs + b.failed),
    };
    const temporalTotals = { keel: familyTotals(temporalPerRun.keel), baseline: familyTotals(temporalPerRun.baseline) };
    const keelHistory = await historySize(stack.observer, keelRunIds.slice(0, 5));
    const baseHistory = await historySize(stack.observer, base.flatMap((r) => r.samples.map((s) => s.id)).slice(0, 5));
    const promises = keelHistory.first && baseHistory.first ? await workflowPromisesPerRun(keelHistory.first, baseHistory.first) : undefined;
    const work = {
      keel: {
        pgTransactionsPerRun: round(transactions.keel / Math.max(1, k.runs + k.failed), 1),
        historyEventsPerRun: round(keelHistory.events, 1),
        historyBytesPerRun: Math.round(keelHistory.bytes),
        workflowPromisesPerRun: promises?.keel ?? Number.NaN,
      },
      baseline: {
        pgTransactionsPerRun: round(transactions.baseline / Math.max(1, b.runs + b.failed), 1),
        historyEventsPerRun: round(baseHistory.events, 1),
        historyBytesPerRun: Math.round(baseHistory.bytes),
        workflowPromisesPerRun: promises?.baseline ?? Number.NaN,
      },
    };
    const keelCpuPerRun = sumOf(k.cpuPerRun, KEEL_PROCESSES);
    const baseCpuPerRun = sumOf(b.cpuPerRun, BASELINE_PROCESSES);
    const errors = [
      ...warmFailures,
      ...keel.flatMap((r) => r.failures.map((f) => `keel: ${f.error}`)),
      ...base.flatMap((r) => r.failures.map((f) => `baseline: ${f.error}`)),
      ...(notStored > 0 ? [`keel: ${notStored} completed workflows without a completed run row`] : []),
    ];
    const failureCount = warmFailures.length + k.failed + b.failed + notStored;

    const roundRate = (r: LoadResult<TimedRun>) => round(r.samples.length / (r.wallMs / 1000), 2);
    // CPU per run of each round, both sides measured minutes apart at most: how far this machine's
    // slow spells move the ratio within one bench run (docs/benchmarks.md, "CPU per run").
    const roundCpu = (cpu: CpuSample | undefined, r: LoadResult<TimedRun> | undefined, names: readonly ProcessName[]) =>
      cpu && r ? round(sumOf(cpuPerRun(cpu, r.samples.length + r.failures.length), names), 1) : Number.NaN;
    const perRound = keel.map((kr, i) => {
      const br = base[i];
      return {
        keelRunsPerSecond: roundRate(kr),
        baselineRunsPerSecond: br ? roundRate(br) : Number.NaN,
        keelCpuPerRunMs: roundCpu(keelCpu[i], kr, KEEL_PROCESSES),
        baselineCpuPerRunMs: roundCpu(baseCpu[i], br, BASELINE_PROCESSES),
      };
    });
    const roundCpuRatios = perRound.map((r) => ratio(r.keelCpuPerRunMs, r.baselineCpuPerRunMs)).filter(Number.isFinite);
    const ratios = {
      throughput: ratio(k.runsPerSecond, b.runsPerSecond),
      p50: ratio(k.latency.p50Ms, b.latency.p50Ms),
      p95: ratio(k.latency.p95Ms, b.latency.p95Ms),
      p99: ratio(k.latency.p99Ms, b.latency.p99Ms),
      acceptP99: ratio(k.accepted.p99Ms, b.accepted.p99Ms),
      cpuPerRun: ratio(keelCpuPerRun, baseCpuPerRun),
      /** The lowest and highest of the rounds' CPU ratios (the pooled ratio above is the goal's). */
      cpuPerRunRounds: roundCpuRatios.length ? { min: Math.min(...roundCpuRatios), max: Math.max(...roundCpuRatios) } : undefined,
    };
    const pct = (share: Partial<Record<ProcessName, number>>, names: readonly ProcessName[]) => names.map((n) => `${share[n] ?? 'n/a'}%`).join(' / ');
    const perRun = (c: Partial<Record<ProcessName, number>>, names: readonly ProcessName[]) => names.map((n) => fmt(c[n])).join(' + ');
    const rows = [
      ['Throughput (runs/s)', fmt(k.runsPerSecond, 2), fmt(b.runsPerSecond, 2), times(ratios.throughput)],
      ['Latency p50 (ms)', fmt(k.latency.p50Ms), fmt(b.latency.p50Ms), times(ratios.p50)],
      ['Latency p95 (ms)', fmt(k.latency.p95Ms), fmt(b.latency.p95Ms), times(ratios.p95)],
      ['Latency p99 (ms)', fmt(k.latency.p99Ms), fmt(b.latency.p99Ms), times(ratios.p99)],
      ['Accept p50 / p99 (ms): POST /v1/runs vs StartWorkflowExecution', `${fmt(k.accepted.p50Ms)} / ${fmt(k.accepted.p99Ms)}`, `${fmt(b.accepted.p50Ms)} / ${fmt(b.accepted.p99Ms)}`, times(ratios.acceptP99)],
      [
        'Throughput per round (runs/s)',
        perRound.map((r) => fmt(r.keelRunsPerSecond, 1)).join(', '),
        perRound.map((r) => fmt(r.baselineRunsPerSecond, 1)).join(', '),
        perRound.map((r) => times(ratio(r.keelRunsPerSecond, r.baselineRunsPerSecond))).join(', '),
      ],
      ['Runs completed / failed', `${k.runs} / ${k.failed + notStored}`, `${b.runs} / ${b.failed}`, ''],
      ['CPU (% of one core): API / worker / Temporal server', pct(k.cpu, KEEL_PROCESSES), `— / ${pct(b.cpu, BASELINE_PROCESSES)}`, ''],
      ['CPU per run (ms): API + worker + Temporal server', `${perRun(k.cpuPerRun, KEEL_PROCESSES)} = ${fmt(keelCpuPerRun)}`, `— + ${perRun(b.cpuPerRun, BASELINE_PROCESSES)} = ${fmt(baseCpuPerRun)}`, times(ratios.cpuPerRun)],
      [
        'CPU per run per round (ms): API + worker + Temporal server',
        perRound.map((r) => fmt(r.keelCpuPerRunMs)).join(', '),
        perRound.map((r) => fmt(r.baselineCpuPerRunMs)).join(', '),
        perRound.map((r) => times(ratio(r.keelCpuPerRunMs, r.baselineCpuPerRunMs))).join(', '),
      ],
      ...(
        [
          ['writes', 'Write system calls per run (a statement, Redis command, RPC or log line is at least one): API / worker / Temporal server'],
          ['reads', 'Read system calls per run: API / worker / Temporal server'],
          ['switches', 'Context switches per run: API / worker / Temporal server'],
        ] as const
      ).map(([what, label]) => {
        const of = (io: Partial<Record<ProcessName, IoCounts>>, names: readonly ProcessName[]) => names.map((n) => io[n]?.[what] ?? Number.NaN);
        const total = (xs: number[]) => Math.round(xs.reduce((a, b) => a + b, 0) * 10) / 10;
        const kx = of(k.ioPerRun, KEEL_PROCESSES);
        const bx = of(b.ioPerRun, BASELINE_PROCESSES);
        return [label, `${kx.map((v) => fmt(v)).join(' + ')} = ${fmt(total(kx))}`, `— + ${bx.map((v) => fmt(v)).join(' + ')} = ${fmt(total(bx))}`, times(ratio(total(kx), total(bx)))];
      }),
      ['CPU per run (ms): bench process (load generator, model server, client)', fmt(k.cpuPerRun.bench), fmt(b.cpuPerRun.bench), ''],
      [
        // Not in the goal's sum, but on two cores they take from what the runs could have had: throughput answers to the machine's CPU per run.
        'CPU per run (ms), outside the goal: Postgres (all backends) / Redis / the whole machine (every process)',
        `${fmt(k.cpuPerRun.postgres)} / ${fmt(k.cpuPerRun.redis)} / ${fmt(k.cpuPerRun.machine)}`,
        `${fmt(b.cpuPerRun.postgres)} / ${fmt(b.cpuPerRun.redis)} / ${fmt(b.cpuPerRun.machine)}`,
        times(ratio(k.cpuPerRun.machine ?? Number.NaN, b.cpuPerRun.machine ?? Number.NaN)),
      ],
      ['Postgres transactions per run (every statement outside a transaction is one)', fmt(work.keel.pgTransactionsPerRun), fmt(work.baseline.pgTransactionsPerRun), times(ratio(work.keel.pgTransactionsPerRun, work.baseline.pgTransactionsPerRun))],
      ['Temporal history events per run', fmt(work.keel.historyEventsPerRun), fmt(work.baseline.historyEventsPerRun), times(ratio(work.keel.historyEventsPerRun, work.baseline.historyEventsPerRun))],
      ['Temporal history size per run (encoded bytes)', String(work.keel.historyBytesPerRun), String(work.baseline.historyBytesPerRun), times(ratio(work.keel.historyBytesPerRun, work.baseline.historyBytesPerRun))],
      [
        'Promises the workflow code makes per run (the SDK captures a stack trace for each; counted by replaying one history)',
        fmt(work.keel.workflowPromisesPerRun, 0),
        fmt(work.baseline.workflowPromisesPerRun, 0),
        times(ratio(work.keel.workflowPromisesPerRun, work.baseline.workflowPromisesPerRun)),
      ],
      ...(['persistence', 'visibility', 'frontend'] as const).map((family) => {
        const label = {
          persistence: 'Temporal persistence requests per run (history and task queues)',
          visibility: 'Temporal visibility store requests per run (search attributes, memo, list queries)',
          frontend: 'Temporal frontend RPCs per run (starts, polls, completions, queries)',
        }[family];
        const kn = temporalTotals.keel[family] ?? 0;
        const bn = temporalTotals.baseline[family] ?? 0;
        return [label, fmt(kn), fmt(bn), times(ratio(kn, bn))];
      }),
    ];

    return {
      setup:
        `${total} runs each, ${concurrency} in flight (closed loop), in ${rounds} alternating rounds after ` +
        `${options.BENCH_WARMUP_RUNS} warm-up runs each; offline model at 0 ms latency; a ${chunks}-chunk corpus (the handbook PDF). ` +
        'Keel: `POST /v1/runs` to the API process, then the `answer` workflow on the worker process (guardrails, cache, retrieval, ' +
        'context screening, the model, output guardrails, and the run row, ledger, search attributes and memo). ' +
        'Baseline: a bare workflow running the same guardrail, retrieval and model code (bench/baseline-activities.ts) in its own ' +
        'worker process, with no bookkeeping, started with the Temporal client (StartWorkflowExecution). ' +
        'Latency is submit → completion, observed by long-polling the workflow result (`handle.result()`) on a separate ' +
        'connection. Ratios are Keel / baseline: below 1× throughput and above 1× latency or CPU is overhead.',
      columns: ['Metric', 'Keel (HTTP API)', 'Baseline (bare Temporal)', 'Keel / baseline'],
      rows,
      metrics: {
        runs: total,
        concurrency,
        rounds,
        warmupRuns: options.BENCH_WARMUP_RUNS,
        modelLatencyMs: 0,
        corpusChunks: chunks,
        keel: { ...k, cpuPerRunTotalMs: keelCpuPerRun },
        baseline: { ...b, cpuPerRunTotalMs: baseCpuPerRun },
        perRound,
        ratios,
        work,
        /** Temporal server requests per run by store and operation, for finding what Keel makes it do. */
        temporalPerRun,
        modelCalls: stack.model.counters().chat.completed,
      },
      failures: { count: failureCount, samples: failureSamples(errors) },
      notes: [],
    };
  },
};
