/**
 * `npm run test:contract`: Schemathesis (an independent API tester, installed by set-up into
 * `.tools/venv`) against a stack this script starts — real Temporal, Postgres, Redis, workers and
 * the offline model server — with every check and every phase, stateful included, and a fixed
 * seed. Exit code: Schemathesis's (non-zero on any failure, or on a warning the config fails on).
 *
 * CONTRACT_SEED and CONTRACT_MAX_EXAMPLES override the defaults for a longer or different run.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import pino from 'pino';
import { generatePayloadKeyEntry } from '../../src/codec/keys';
import { eventually, http, startStack, type TestStack } from '../support/stack';

const ROOT = path.resolve(__dirname, '../..');
const ST = path.join(ROOT, '.tools/venv/bin/st');
const seed = process.env.CONTRACT_SEED ?? '20261202';
const maxExamples = process.env.CONTRACT_MAX_EXAMPLES ?? '60';

/**
 * A failed run and a paused one, for `retry` and `resume` (schemathesis.toml hands their ids to
 * those operations): no generated sequence makes a run fail or pause, so without them those
 * operations would only ever be tried on runs they must refuse. The model endpoint answers the
 * first call of each with a 400, which fails the step for good.
 */
async function seedRunsToOperate(stack: TestStack): Promise<{ failed: string; paused: string }> {
  const start = async (onFailure: 'fail' | 'pause') => {
    stack.model.addFaults({ type: '400', count: 1, endpoint: 'chat' });
    const res = await http<{ id: string }>(stack, 'POST', '/v1/runs', { body: { type: 'answer', input: { question: `A run to ${onFailure === 'fail' ? 'retry' : 'resume'}` }, onFailure } });
    if (res.status !== 202) throw new Error(`could not start a run to operate on: ${res.status}`);
    return eventually(async () => {
      const run = await http<{ status: string }>(stack, 'GET', `/v1/runs/${res.body.id}`);
      return run.body.status === (onFailure === 'fail' ? 'failed' : 'needs_attention') ? res.body.id : undefined;
    }, `run ${res.body.id} to ${onFailure === 'fail' ? 'fail' : 'pause'}`, 60_000);
  };
  const seeded = { failed: await start('fail'), paused: await start('pause') };
  // Runs then stay in progress for a second, so a generated cancel can find one still running.
  stack.model.setLatency(1000);
  return seeded;
}

async function main(): Promise<number> {
  if (!existsSync(ST)) throw new Error(`Schemathesis is not installed at ${ST}; run npm run setup`);
  const log = process.env.CONTRACT_API_LOG ? pino({ level: 'info' }, pino.destination(process.env.CONTRACT_API_LOG)) : undefined;
  const stack = await startStack({
    label: 'contract',
    ...(log ? { log } : {}),
    env: {
      // The tester sends thousands of requests and starts hundreds of runs from one tenant:
      // limits that would answer most of them 429 would hide the operations behind them.
      KEEL_RATE_LIMIT_PER_MINUTE: '1000000',
      KEEL_MAX_INFLIGHT_RUNS_PER_TENANT: '1000000',
      // The remote-codec routes are served only with a payload key.
      KEEL_PAYLOAD_KEYS: generatePayloadKeyEntry('contract1'),
    },
  });
  try {
    const seeded = await seedRunsToOperate(stack);
    const args = [
      'run', `${stack.baseUrl}/openapi.json`,
      '--url', stack.baseUrl,
      '--checks', 'all',
      '--phases', 'examples,coverage,fuzzing,stateful',
      '--seed', seed,
      '--max-examples', maxExamples,
      '--continue-on-failure',
      // One worker: Hypothesis's lambda descriptions parse source with `ast`, which is not thread-safe on Python 3.11.
      '--workers', '1',
      '--request-timeout', '30',
      '-H', `Authorization: Bearer ${stack.apiKey}`,
      '--report', 'junit',
      '--report-dir', path.join(ROOT, '.data/contract'),
      ...process.argv.slice(2),
    ];
    const started = Date.now();
    const code = await new Promise<number>((resolve, reject) => {
      const child = spawn(ST, ['--config-file', path.join(ROOT, 'test/contract/schemathesis.toml'), ...args], {
        stdio: 'inherit',
        cwd: ROOT,
        env: { ...process.env, NO_COLOR: '1', SCHEMATHESIS_HOOKS: path.join(ROOT, 'test/contract/hooks.py'), CONTRACT_FAILED_RUN: seeded.failed, CONTRACT_PAUSED_RUN: seeded.paused },
      });
      child.on('error', reject);
      child.on('exit', (c, signal) => resolve(c ?? (signal ? 1 : 0)));
    });
    console.log(`contract: Schemathesis exited ${code} after ${((Date.now() - started) / 1000).toFixed(0)} s (seed ${seed}, max examples ${maxExamples})`);
    return code;
  } finally {
    await stack.stop();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
