/**
 * Fault injection with real processes: a worker killed mid-model-call, and Postgres cut off
 * mid-run. Each case checks the run finishes, nothing is lost, and no completed model call was
 * made (counted by the model server) or billed (the ledger) twice.
 */
import assert from 'node:assert/strict';
import type { KeelProcess } from '../support/processes';
import { eventually, http, startStack, type TestStack } from '../support/stack';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy';

interface RunBody {
  status: string;
  result: { answer: string } | null;
  steps: Array<{ step: string; attempts: Array<{ attempt: number; status: string; tokensIn: number | null }> }>;
}

describe('faults: worker killed, Postgres unreachable', function () {
  this.timeout(120_000);
  let stack: TestStack;

  const startRun = async (question: string) => {
    const res = await http<{ id: string }>(stack, 'POST', '/v1/runs', { body: { type: 'answer', input: { question } } });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    return res.body.id;
  };
  const waitForCompleted = (id: string) =>
    eventually(async () => {
      const run = (await http<RunBody>(stack, 'GET', `/v1/runs/${id}`)).body;
      return run.status === 'completed' ? run : undefined;
    }, `run ${id} to complete`, 60_000);
  const modelCallInFlight = () =>
    eventually(async () => (stack.model.counters().chat.inFlight === 1 ? true : undefined), 'the model call to be in flight');
  const attempts = (run: RunBody, step: string) => run.steps.find((s) => s.step === step)?.attempts ?? [];

  before(async () => {
    stack = await startStack({ label: 'faults_worker_pg', workers: false });
  });
  after(async () => {
    await stack?.stop();
  });
  beforeEach(() => stack.model.reset());

  it('SIGKILL the worker mid-generate; another worker completes the run, the model answered once', async () => {
    stack.model.setLatency(4_000);
    const first = await stack.spawnWorker();
    const id = await startRun('Does a dead worker lose the run?');
    await modelCallInFlight();
    await first.kill('SIGKILL');
    stack.model.setLatency(0);

    const second = await stack.spawnWorker();
    const run = await waitForCompleted(id).catch((err: unknown) => {
      throw new Error(`run did not complete; worker output:\n${second.output().slice(-3000)}`, { cause: err });
    });
    assert.ok(run.result?.answer);
    const counters = stack.model.counters().chat;
    assert.equal(counters.completed, 1, 'the model answered exactly once');
    assert.equal(counters.aborted, 1, 'the killed worker’s call was cut off');
    // Attempt 1 died with its worker (started, never finished, never billed); attempt 2 completed.
    assert.deepEqual(attempts(run, 'generate').map((a) => [a.attempt, a.status]), [[1, 'started'], [2, 'completed']]);
    assert.equal(attempts(run, 'generate').filter((a) => a.tokensIn !== null).length, 1);
    assert.deepEqual(attempts(run, 'guardInput').map((a) => a.status), ['completed']);
    assert.deepEqual(attempts(run, 'storeResult').map((a) => a.status), ['completed']);
    await second.kill('SIGTERM');
  });

  describe('with the worker reaching Postgres through a proxy', () => {
    let proxy: TcpProxy;
    let worker: KeelProcess;

    before(async () => {
      const url = new URL(stack.config.DATABASE_URL);
      proxy = await startTcpProxy({ host: url.hostname, port: Number(url.port || 5432) });
      url.hostname = '127.0.0.1';
      url.port = String(proxy.port);
      worker = await stack.spawnWorker('worker-via-proxy', { DATABASE_URL: url.toString() });
    });
    after(async () => {
      await worker?.kill('SIGKILL');
      await proxy?.close();
    });

    it('Postgres unreachable for 10 s mid-run: activities retry, the run completes, no duplicate rows', async () => {
      stack.model.setLatency(2_000);
      const id = await startRun('Does a database outage lose the run?');
      await modelCallInFlight();
      proxy.cut();
      const cutAt = Date.now();
      // The outage itself lasts 10 s by definition; everything after is polled.
      await new Promise((r) => setTimeout(r, 10_000));
      proxy.restore();

      const run = await waitForCompleted(id);
      assert.ok(Date.now() - cutAt >= 10_000);
      assert.ok(run.result?.answer);
      assert.equal(stack.model.counters().chat.completed, 1, 'the model answered exactly once');
      // The model's answer arrived during the outage; its ledger write waited instead of failing
      // the attempt, so there is one attempt, completed and billed once.
      assert.deepEqual(attempts(run, 'generate').map((a) => [a.attempt, a.status]), [[1, 'completed']]);
      for (const step of ['guardInput', 'generate', 'storeResult']) {
        assert.equal(attempts(run, step).filter((a) => a.status === 'completed').length, 1, step);
      }
      const rows = await stack.db.runStep.groupBy({ by: ['workflowRunId', 'activityId', 'attempt'], where: { runId: id }, _count: true });
      assert.ok(rows.every((r) => r._count === 1));
      assert.equal(await stack.db.run.count({ where: { id } }), 1);
    });
  });
});
