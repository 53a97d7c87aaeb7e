import { Worker } from '@temporalio/worker';
import assert from 'node:assert/strict';
import { workflowBundle } from '../src/worker/worker';
import { loadHistories } from './support/histories';
import { quietRuntime } from './support/stack';

/**
 * The determinism guard: histories recorded from real runs (normal, failed and retried, paused
 * and resumed, cancelled) must replay with today's workflow code. A change that alters the
 * commands a running workflow would issue fails here, before it can strand runs in production.
 */
describe('workflow determinism: recorded histories replay', function () {
  this.timeout(60_000);

  it('replays every recorded answer history with the current workflow code', async () => {
    quietRuntime();
    const histories = loadHistories();
    assert.deepEqual(histories.map((h) => h.workflowId), [
      'answer-best-of-n',
      'answer-cancelled',
      'answer-failed-and-retried',
      'answer-lean-v1',
      'answer-lean-v2',
      'answer-lean-v3',
      'answer-lean-v4',
      'answer-normal',
      'answer-paused-and-resumed',
      'answer-refine',
      'answer-retrieval',
      'extract-repaired',
      'ingest-lean-v1',
      'ingest-pdf',
    ]);
    const results: string[] = [];
    for await (const result of Worker.runReplayHistories({ workflowBundle: await workflowBundle() }, histories)) {
      assert.equal(result.error, undefined, `${result.workflowId}: ${String(result.error)}`);
      results.push(result.workflowId);
    }
    assert.equal(results.length, histories.length);
  });
});
