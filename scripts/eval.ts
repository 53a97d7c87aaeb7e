/**
 * `npm run eval -- --dataset <file.jsonl> [--name N] [--base-url URL] [--key KEY] [--judge] [--concurrency 4] [--start]`
 *
 * Runs a golden dataset through Keel's API (the stack at --base-url, default the local
 * `npm start` API with KEEL_API_KEY from .env; or, with --start, a stack of its own on free
 * ports and a scratch database), scores every case, stores the evaluation (GET /v1/evals/:id)
 * and prints a table. Exits 1 when a case fails.
 */
import { SingleBar } from 'cli-progress';
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/config';
import { runEvaluation, type EvalTarget } from '../src/evals/runner';
import { createLlmClient } from '../src/llm/client';
import type { EvaluationView } from '../src/schemas/evals';
import { startStack } from '../test/support/stack';

const { values } = parseArgs({
  options: {
    dataset: { type: 'string', default: 'evals/golden/handbook.jsonl' },
    name: { type: 'string' },
    'base-url': { type: 'string' },
    key: { type: 'string' },
    judge: { type: 'boolean', default: false },
    concurrency: { type: 'string', default: '4' },
    start: { type: 'boolean', default: false },
  },
});

export function printEvaluation(e: EvaluationView): void {
  const rows = e.cases.map((c) => ({
    case: c.caseId,
    status: c.status,
    pass: c.passed ? 'yes' : 'NO',
    scores: Object.entries(c.scores).map(([k, v]) => `${k}=${v.toFixed(2)}`).join(' '),
    'ms': c.latencyMs ?? '',
  }));
  console.table(rows);
  console.log(`evaluation ${e.id}: ${(e.metrics.passRate * 100).toFixed(1)}% of ${e.metrics.cases} cases passed; mean scores ${JSON.stringify(e.metrics.scores)}; p50 ${e.metrics.latencyMsP50 ?? '–'} ms; cost $${e.metrics.costUsd}`);
  console.log(`versions: ${JSON.stringify(e.versions)}`);
}

async function main(): Promise<void> {
  const config = loadConfig();
  let target: EvalTarget;
  let stop: () => Promise<void> = async () => undefined;
  if (values.start) {
    // The same stack the tests use: Temporal dev server, scratch database, offline model, worker, API.
    const stack = await startStack({ label: 'eval' });
    target = { baseUrl: stack.baseUrl, apiKey: stack.apiKey };
    stop = () => stack.stop();
  } else {
    const apiKey = values.key ?? process.env.KEEL_API_KEY;
    if (!apiKey) throw new Error('no API key: pass --key, set KEEL_API_KEY (npm run setup writes it to .env), or use --start');
    target = { baseUrl: values['base-url'] ?? `http://${config.KEEL_API_HOST}:${config.KEEL_API_PORT}`, apiKey };
  }
  const bar = new SingleBar({ format: 'eval [{bar}] {value}/{total} cases | {last}', hideCursor: true, stream: process.stderr });
  let started = false;
  try {
    const evaluation = await runEvaluation({
      target,
      datasetPath: values.dataset,
      name: values.name,
      concurrency: Number(values.concurrency),
      judge: values.judge ? { llm: createLlmClient(config), model: config.llm.model } : undefined,
      onProgress: (done, total, last) => {
        if (!started) bar.start(total, 0, { last: '' });
        started = true;
        bar.update(done, { last: `${last.caseId} ${last.passed ? 'pass' : 'FAIL'}` });
      },
    });
    bar.stop();
    printEvaluation(evaluation);
    process.exitCode = evaluation.cases.every((c) => c.passed) ? 0 : 1;
  } finally {
    if (started) bar.stop();
    await stop();
  }
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(`eval failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(2);
  });
}
