/**
 * `npm run fuzz -- [--runs 5000] [--seed N]`: the fuzz test at a larger count, on its own stack
 * (Temporal dev server, a fresh database, the API; no workers). Prints the status histogram.
 */
import { parseArgs } from 'node:util';
import { SCOPES } from '../src/auth/scopes';
import { fuzzApi } from '../test/support/fuzz';
import { startStack } from '../test/support/stack';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { runs: { type: 'string', default: '5000' }, seed: { type: 'string' } } });
  const runs = Number(values.runs);
  const stack = await startStack({ label: 'fuzz-script', workers: false, env: { KEEL_RATE_LIMIT_PER_MINUTE: '100000000', KEEL_MAX_INFLIGHT_RUNS_PER_TENANT: '100000000' } });
  try {
    const fuzzer = await stack.addTenant('fuzzer', [...SCOPES]);
    const started = Date.now();
    const result = await fuzzApi({ baseUrl: stack.baseUrl, apiKey: fuzzer.apiKey, runs, ...(values.seed ? { seed: Number(values.seed) } : {}) });
    const seconds = (Date.now() - started) / 1000;
    const runsWritten = await stack.db.run.count({ where: { tenantId: fuzzer.tenantId } });
    console.log(JSON.stringify({ requests: result.requests, seconds, perSecond: Math.round(result.requests / seconds), byStatus: result.byStatus, accepted: result.accepted, runsWritten }, null, 2));
    if (runsWritten !== (result.accepted['POST /v1/runs'] ?? 0)) throw new Error('a rejected request wrote a run');
  } finally {
    await stack.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
