/**
 * `npm run fuzz -- [--runs 5000] [--seed N] [--seeds K]`: the fuzz test at a larger count, on its
 * own stack (Temporal dev server, a fresh database, the API; no workers). With `--seeds K` it runs
 * K seeds (N, N+1, …; N defaults to 1) of `--runs` requests each and goes on after a failing seed,
 * so one run reports every seed. Prints the status histogram per seed and in total.
 */
import { parseArgs } from 'node:util';
import { SCOPES } from '../src/auth/scopes';
import { fuzzApi } from '../test/support/fuzz';
import { startStack } from '../test/support/stack';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { runs: { type: 'string', default: '5000' }, seed: { type: 'string' }, seeds: { type: 'string' } } });
  const runs = Number(values.runs);
  const seedCount = values.seeds !== undefined ? Number(values.seeds) : undefined;
  const firstSeed = values.seed !== undefined ? Number(values.seed) : seedCount !== undefined ? 1 : undefined;
  const seeds: Array<number | undefined> = seedCount !== undefined ? Array.from({ length: seedCount }, (_, i) => firstSeed! + i) : [firstSeed];
  const stack = await startStack({ label: 'fuzz-script', workers: false, env: { KEEL_RATE_LIMIT_PER_MINUTE: '100000000', KEEL_MAX_INFLIGHT_RUNS_PER_TENANT: '100000000' } });
  const failures: Array<{ seed: number | undefined; error: string }> = [];
  const total: Record<string, number> = {};
  let requests = 0;
  const started = Date.now();
  try {
    for (const seed of seeds) {
      const fuzzer = await stack.addTenant(`fuzzer-${seed ?? 'random'}`, [...SCOPES]);
      const t0 = Date.now();
      try {
        const result = await fuzzApi({ baseUrl: stack.baseUrl, apiKey: fuzzer.apiKey, runs, ...(seed !== undefined ? { seed } : {}) });
        const seconds = (Date.now() - t0) / 1000;
        const runsWritten = await stack.db.run.count({ where: { tenantId: fuzzer.tenantId } });
        requests += result.requests;
        for (const [status, n] of Object.entries(result.byStatus)) total[status] = (total[status] ?? 0) + n;
        console.log(JSON.stringify({ seed, requests: result.requests, seconds, perSecond: Math.round(result.requests / seconds), byStatus: result.byStatus, accepted: result.accepted, runsWritten }));
        if (runsWritten !== (result.accepted['POST /v1/runs'] ?? 0)) throw new Error('a rejected request wrote a run');
      } catch (err) {
        const error = err instanceof Error ? err.message : String(err);
        failures.push({ seed, error });
        console.log(JSON.stringify({ seed, failed: error.slice(0, 2000) }));
      }
    }
  } finally {
    await stack.stop();
  }
  const fiveXx = Object.entries(total).filter(([s]) => Number(s) >= 500).reduce((n, [, c]) => n + c, 0);
  console.log(JSON.stringify({ seeds: seeds.length, requests, seconds: (Date.now() - started) / 1000, byStatus: total, fiveXx, failedSeeds: failures.map((f) => f.seed) }, null, 2));
  if (failures.length > 0) process.exitCode = 1;
}

// Exits when done: with the stack stopped, some handle (not a JS timer or socket; likely native) still keeps the
// event loop alive, and the script sat idle after its summary until killed.
main().then(
  () => process.exit(process.exitCode ?? 0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
