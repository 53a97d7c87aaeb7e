import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../src/dev/temporal-cli';
import type { BenchContext, Section, SectionOutcome } from './section';

interface OverheadMetrics {
  keel: { runsPerSecond: number; latency: { p50Ms: number; p99Ms: number }; accepted: { p99Ms: number }; cpuPerRunTotalMs: number };
  baseline: { runsPerSecond: number; latency: { p50Ms: number; p99Ms: number }; accepted: { p99Ms: number }; cpuPerRunTotalMs: number };
  ratios: { throughput: number; p50: number; p99: number; acceptP99: number; cpuPerRun: number; cpuPerRunRounds?: { min: number; max: number } };
}

interface BurstMetrics {
  keel: { wallMs: number; peakRssMiB: { api?: number; worker?: number } };
  baseline: { wallMs: number };
  ratios: { wall: number };
}

interface SoakFile {
  environment?: { date?: string; commit?: string };
  sections?: Array<{ id: string; metrics?: { minutes?: number; flat?: boolean; api?: { changePct: number }; worker?: { changePct: number } } }>;
}

const x = (n: number) => (Number.isFinite(n) ? `${n.toFixed(2)}×` : 'n/a');
const verdict = (ok: boolean | undefined) => (ok === undefined ? '—' : ok ? 'met' : '**not met**');

/**
 * Issue 15's goals, each ratio from this run next to its target. Reads the sections that ran
 * before it; the memory goal's soak runs separately (`npm run bench -- --soak`, written to
 * bench/results/soak.json) and is quoted from its last run.
 */
export const goals: Section = {
  id: 'goals',
  title: 'Goals: Keel against bare Temporal (issue 15)',
  async run(ctx: BenchContext): Promise<SectionOutcome> {
    const o = ctx.earlier.find((r) => r.id === 'answer-overhead' && !r.error)?.metrics as OverheadMetrics | undefined;
    const b = ctx.earlier.find((r) => r.id === 'burst' && !r.error)?.metrics as BurstMetrics | undefined;
    const soakPath = join(PROJECT_ROOT, 'bench', 'results', 'soak.json');
    const soakFile = existsSync(soakPath) ? (JSON.parse(readFileSync(soakPath, 'utf8')) as SoakFile) : undefined;
    const soak = soakFile?.sections?.find((s) => s.id === 'soak')?.metrics;
    const rows: string[][] = [];
    if (o) {
      rows.push(
        ['Closed-loop throughput, 20 in flight', '≥ 0.90×', x(o.ratios.throughput), `${o.keel.runsPerSecond} vs ${o.baseline.runsPerSecond} runs/s`, verdict(o.ratios.throughput >= 0.9)],
        ['Latency p50', '≤ 1.15×', x(o.ratios.p50), `${o.keel.latency.p50Ms} vs ${o.baseline.latency.p50Ms} ms`, verdict(o.ratios.p50 <= 1.15)],
        ['Latency p99', '≤ 1.15×', x(o.ratios.p99), `${o.keel.latency.p99Ms} vs ${o.baseline.latency.p99Ms} ms`, verdict(o.ratios.p99 <= 1.15)],
        ['`POST /v1/runs` p99 vs StartWorkflowExecution p99', '≤ 2.00×', x(o.ratios.acceptP99), `${o.keel.accepted.p99Ms} vs ${o.baseline.accepted.p99Ms} ms`, verdict(o.ratios.acceptP99 <= 2)],
        ['CPU per run (API + worker + Temporal server)', '≤ 1.15×', x(o.ratios.cpuPerRun), `${o.keel.cpuPerRunTotalMs} vs ${o.baseline.cpuPerRunTotalMs} ms${o.ratios.cpuPerRunRounds ? ` (rounds ${x(o.ratios.cpuPerRunRounds.min)}–${x(o.ratios.cpuPerRunRounds.max)})` : ''}`, verdict(o.ratios.cpuPerRun <= 1.15)],
      );
    }
    if (b) {
      rows.push(
        [`Burst wall time (${ctx.options.BENCH_BURST_RUNS} runs, model ${ctx.options.BENCH_BURST_LATENCY_MS} ms)`, '≤ 1.20×', x(b.ratios.wall), `${(b.keel.wallMs / 1000).toFixed(2)} vs ${(b.baseline.wallMs / 1000).toFixed(2)} s`, verdict(b.ratios.wall <= 1.2)],
        ['Burst peak RSS: API / worker', 'a figure', '', `${b.keel.peakRssMiB.api ?? 'n/a'} / ${b.keel.peakRssMiB.worker ?? 'n/a'} MiB`, '—'],
      );
    }
    rows.push(
      soak
        ? ['Worker and API RSS over a soak', 'flat ± 10 %', '', `API ${soak.api?.changePct}%, worker ${soak.worker?.changePct}% over ${soak.minutes} min (${soakFile?.environment?.date?.slice(0, 10)}, \`${soakFile?.environment?.commit}\`)`, verdict(soak.flat)]
        : ['Worker and API RSS over a soak', 'flat ± 10 %', '', 'not run yet: `npm run bench -- --soak`', '—'],
    );
    return {
      setup: 'Each goal of issue 15 with its target and this run\'s ratio (Keel / baseline, both measured in this run). The soak is a separate command and is quoted from its last run.',
      columns: ['Goal', 'Target', 'Ratio', 'Keel vs baseline', 'Verdict'],
      rows,
      metrics: { soakQuoted: Boolean(soak) },
      failures: { count: 0, samples: [] },
      notes: [],
    };
  },
};
