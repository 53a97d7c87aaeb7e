import { performance } from 'node:perf_hooks';
import { rssMiB } from './cpu';
import { describeError } from './load';
import { benchQuestion, timedKeelRun } from './runs';
import { failureSamples, type BenchContext, type Section, type SectionOutcome } from './section';
import { round } from './stats';

const SAMPLE_EVERY_MS = 10_000;

/**
 * `npm run bench -- --soak` (not in CI): Keel at a steady closed loop of BENCH_CONCURRENCY runs
 * for BENCH_SOAK_MINUTES (10), sampling the API's and the worker's resident memory every 10 s.
 * Flat means the last minute's mean RSS is within ±10 % of the second minute's (the first is
 * warm-up: JIT, pools, the workflow cache filling).
 */
export const soak: Section = {
  id: 'soak',
  title: 'Memory under steady load (soak)',
  async run(ctx: BenchContext): Promise<SectionOutcome> {
    const { stack, options } = ctx;
    const minutes = options.BENCH_SOAK_MINUTES;
    stack.model.reset();
    stack.model.setLatency(0);
    const until = performance.now() + minutes * 60_000;
    const samples: Array<{ atS: number; api: number | null; worker: number | null }> = [];
    const started = performance.now();
    const timer = setInterval(() => {
      samples.push({ atS: round((performance.now() - started) / 1000), api: rssMiB(stack.processes.api), worker: rssMiB(stack.processes.worker) });
      if (samples.length % 6 === 0) ctx.progress(`${samples.length / 6} min: API ${samples.at(-1)?.api} MiB, worker ${samples.at(-1)?.worker} MiB`);
    }, SAMPLE_EVERY_MS);
    let completed = 0;
    const errors: string[] = [];
    let index = 0;
    const lane = async () => {
      while (performance.now() < until) {
        try {
          await timedKeelRun(stack, benchQuestion('soak', index++), options.BENCH_RUN_TIMEOUT_MS);
          completed++;
        } catch (err) {
          errors.push(describeError(err));
        }
      }
    };
    try {
      await Promise.all(Array.from({ length: options.BENCH_CONCURRENCY }, lane));
    } finally {
      clearInterval(timer);
    }
    const wallS = (performance.now() - started) / 1000;
    const mean = (xs: Array<number | null>) => {
      const v = xs.filter((x): x is number => x !== null);
      return v.length ? round(v.reduce((a, b) => a + b, 0) / v.length) : Number.NaN;
    };
    const minute = (m: number) => samples.filter((s) => s.atS > m * 60 && s.atS <= (m + 1) * 60);
    const last = samples.filter((s) => s.atS > wallS - 60);
    const change = (which: 'api' | 'worker') => {
      const from = mean(minute(1).map((s) => s[which]));
      const to = mean(last.map((s) => s[which]));
      return { fromMiB: from, toMiB: to, changePct: round(((to - from) / from) * 100) };
    };
    const api = change('api');
    const worker = change('worker');
    const flat = (c: { changePct: number }) => Math.abs(c.changePct) <= 10;
    return {
      setup: `${minutes} min of answer runs at ${options.BENCH_CONCURRENCY} in flight (closed loop, offline model at 0 ms), RSS sampled every ${SAMPLE_EVERY_MS / 1000} s. Flat: the last minute's mean within ±10 % of the second minute's.`,
      columns: ['Process', 'RSS minute 2 (MiB)', 'RSS last minute (MiB)', 'Change', 'Flat (±10 %)'],
      rows: [
        ['API', String(api.fromMiB), String(api.toMiB), `${api.changePct}%`, flat(api) ? 'yes' : 'no'],
        ['Worker', String(worker.fromMiB), String(worker.toMiB), `${worker.changePct}%`, flat(worker) ? 'yes' : 'no'],
      ],
      metrics: { minutes, completed, runsPerSecond: round(completed / wallS, 2), api, worker, flat: flat(api) && flat(worker), samples },
      failures: { count: errors.length, samples: failureSamples(errors) },
      notes: [`${completed} runs completed (${round(completed / wallS, 2)} runs/s).`],
    };
  },
};
