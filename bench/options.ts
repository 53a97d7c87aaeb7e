import { z } from 'zod';

const count = z.coerce.number().int().positive();

/**
 * Benchmark knobs, from the environment so CI can shrink a run without editing code. The
 * defaults are the published numbers' settings; change them and the numbers are not comparable.
 */
export const BenchOptions = z.object({
  BENCH_RUNS: count.default(200),
  BENCH_CONCURRENCY: count.default(20),
  /**
   * Alternating baseline/Keel rounds, so drift over the run (a growing in-memory history store,
   * a warming JIT, another process taking the CPU for a while) hits both alike.
   */
  BENCH_ROUNDS: count.default(4),
  BENCH_WARMUP_RUNS: count.default(10),
  BENCH_BURST_RUNS: count.default(500),
  BENCH_BURST_LATENCY_MS: z.coerce.number().int().min(0).default(1000),
  BENCH_RUN_TIMEOUT_MS: count.default(180_000),
  /**
   * The bench tenant's result cache (`tenant.cache_enabled`). On, as a tenant gets it: every run is
   * a miss (the questions differ), so the cache's lookups and store are part of Keel's cost. `off`
   * sizes that share, in an A/B against a run with it on (docs/benchmarks.md).
   */
  BENCH_TENANT_CACHE: z.enum(['on', 'off']).default('on'),
  /** `npm run bench -- --soak`: how long the steady load runs. */
  BENCH_SOAK_MINUTES: z.coerce.number().positive().default(10),
});
export type BenchOptions = z.infer<typeof BenchOptions>;

export function loadBenchOptions(env: NodeJS.ProcessEnv = process.env): BenchOptions {
  const parsed = BenchOptions.safeParse(Object.fromEntries(Object.entries(env).filter(([k, v]) => k.startsWith('BENCH_') && v)));
  if (!parsed.success) {
    throw new Error(`Invalid benchmark options:\n${parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`).join('\n')}`);
  }
  return parsed.data;
}
