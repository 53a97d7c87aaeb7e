/**
 * Promises a workflow's code makes per run, counted by replaying a recorded history in this process.
 *
 * The SDK installs a promise hook in every workflow thread: for each promise made in a workflow's
 * context it captures a stack trace and maps it through the bundle's source map (for the
 * `__stack_trace` query the Web UI shows). On a 2-core VM that cost about 0.18 ms of CPU per
 * promise (docs/lean-orchestration.md, session 8), so the count is a cost of the workflow code that
 * contention cannot blur. Replay feeds the same activations as a live run, so it makes the same
 * promises; the hook below counts only promises of a workflow's own realm (its `Promise` is not
 * this thread's).
 */
import v8 from 'node:v8';
import type { temporal } from '@temporalio/proto';
import { Worker, bundleWorkflowCode, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { keelDataConverter } from '../src/codec/data-converter';
import { workflowBundle } from '../src/worker/worker';

type History = temporal.api.history.v1.IHistory;

const quiet = { log: () => undefined, trace: () => undefined, debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

async function promisesOf(bundle: WorkflowBundleWithSourceMap, history: History, workflowId: string): Promise<number> {
  let made = 0;
  // Node types the stopper as `Function`.
  const stop = v8.promiseHooks.createHook({
    init(promise: Promise<unknown>) {
      if (promise.constructor !== Promise) made++;
    },
  }) as () => void;
  try {
    await Worker.runReplayHistory({ workflowBundle: bundle, dataConverter: keelDataConverter(undefined), replayName: `promises-${workflowId}` }, history, workflowId);
  } finally {
    stop();
  }
  return made;
}

/** Keel's answer workflow and the baseline's, each from one of its own completed histories. */
export async function workflowPromisesPerRun(keel: History, baseline: History): Promise<{ keel: number; baseline: number }> {
  const baselineBundle = await bundleWorkflowCode({ workflowsPath: require.resolve('./baseline-workflows'), logger: quiet });
  return {
    keel: await promisesOf(await workflowBundle(false), keel, 'keel'),
    baseline: await promisesOf(baselineBundle, baseline, 'baseline'),
  };
}
