/**
 * Restart the Temporal server itself mid-run: a dev server persisting to SQLite is stopped while
 * the model call is in flight and started again on the same file and port. The run must finish
 * with the model having answered once.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { eventually, http, startStack, type TestStack } from '../support/stack';

interface RunBody {
  status: string;
  result: { answer: string } | null;
  steps: Array<{ step: string; attempts: Array<{ attempt: number; status: string }> }>;
}

describe('faults: Temporal server restarted mid-run', function () {
  this.timeout(120_000);
  let stack: TestStack;
  let dataDir: string;

  before(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'keel-temporal-restart-'));
    // The model call outlasts the restart (6 s), so the stack's 5 s model timeout is lifted.
    stack = await startStack({ label: 'faults_temporal', temporalDbFile: path.join(dataDir, 't.sqlite'), env: { KEEL_MODEL_TIMEOUT_MS: '30000' } });
  });

  after(async () => {
    await stack?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('completes the run, calling the model once', async () => {
    stack.model.setLatency(6_000);
    const created = await http<{ id: string }>(stack, 'POST', '/v1/runs', { body: { type: 'answer', input: { question: 'Does a Temporal restart lose the run?' } } });
    assert.equal(created.status, 202, JSON.stringify(created.body));
    await eventually(async () => (stack.model.counters().chat.inFlight === 1 ? true : undefined), 'the model call to be in flight');

    await stack.env.restart();

    const run = await eventually(async () => {
      const r = (await http<RunBody>(stack, 'GET', `/v1/runs/${created.body.id}`)).body;
      return r.status === 'completed' ? r : undefined;
    }, 'the run to complete after the restart', 60_000).catch(async (err: unknown) => {
      const last = await http(stack, 'GET', `/v1/runs/${created.body.id}`);
      throw new Error(`run did not complete: ${JSON.stringify(last.body)}\nTemporal's output:\n${stack.env.output()}`, { cause: err });
    });
    assert.ok(run.result?.answer);
    assert.equal(stack.model.counters().chat.completed, 1, 'the model answered exactly once');
    const generate = run.steps.find((s) => s.step === 'generate')?.attempts ?? [];
    assert.deepEqual(generate.filter((a) => a.status === 'completed').length, 1);
  });
});
