import assert from 'node:assert/strict';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { createLlmClient } from '../src/llm/client';
import { TaskQueue } from '../src/shared';
import { createKeelWorkers } from '../src/worker/worker';
import { eventually, http, startStack, type TestStack } from './support/stack';

describe('keel-llm: a task-queue-wide cap on model calls', function () {
  this.timeout(120_000);
  let stack: TestStack;
  let workers: Worker[] = [];
  let running: Array<Promise<void>> = [];
  const connections: NativeConnection[] = [];
  const perSecond = 4;

  before(async () => {
    stack = await startStack({ label: 'llm_rate', workers: false });
    // Two workers on keel-llm, as two processes would be: the cap is the queue's, not each worker's.
    for (const queues of [[TaskQueue.workflows, TaskQueue.llm], [TaskQueue.llm]]) {
      const connection = await NativeConnection.connect({ address: stack.env.address });
      connections.push(connection);
      const created = await createKeelWorkers({
        connection,
        namespace: 'default',
        taskQueues: queues,
        llmMaxPerSecond: perSecond,
        deps: { db: stack.db, llm: createLlmClient(stack.config), prices: stack.config.KEEL_MODEL_PRICES, store: stack.store },
      });
      workers.push(...created);
      running.push(...created.map((w) => w.run()));
    }
  });
  after(async () => {
    for (const w of workers) w.shutdown();
    await Promise.allSettled(running);
    workers = [];
    running = [];
    await Promise.all(connections.map((c) => c.close()));
    await stack?.stop();
  });

  it('spreads model calls out to the configured rate, whatever the number of workers', async () => {
    const runs = 16;
    const ids = await Promise.all(
      Array.from({ length: runs }, async (_, i) => {
        const res = await http<{ id: string }>(stack, 'POST', '/v1/runs', { body: { type: 'answer', input: { question: `Rate ${i}` } } });
        assert.equal(res.status, 202);
        return res.body.id;
      }),
    );
    await eventually(async () => ((await stack.db.run.count({ where: { id: { in: ids }, status: 'completed' } })) === runs ? true : undefined), 'all runs', 60_000);
    const starts = (await stack.db.runStep.findMany({ where: { step: 'generate', runId: { in: ids } }, select: { startedAt: true } }))
      .map((s) => s.startedAt.getTime())
      .sort((a, b) => a - b);
    assert.equal(starts.length, runs);
    // Token bucket: at most one second's worth at once, then `perSecond` more each second.
    const spanMs = starts.at(-1)! - starts[0]!;
    const minimumSpanMs = ((runs - 2 * perSecond) / perSecond) * 1000;
    assert.ok(spanMs >= minimumSpanMs, `16 model calls started within ${spanMs} ms; the cap allows no faster than ${minimumSpanMs} ms`);
    assert.equal(workers.find((w) => w.options.taskQueue === TaskQueue.llm)?.options.maxTaskQueueActivitiesPerSecond, perSecond);
    assert.equal(workers.find((w) => w.options.taskQueue === TaskQueue.workflows)?.options.maxTaskQueueActivitiesPerSecond, undefined);
  });
});
