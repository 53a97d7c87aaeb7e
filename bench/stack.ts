/**
 * The benchmark's stack: test/support/stack.ts's `startStack` (the same Temporal dev server,
 * database, model server, workers and API the tests use) with production worker settings. The
 * test stack otherwise disables the workflow cache (so every task replays), which is right for
 * catching non-determinism and wrong for measuring throughput.
 */
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, Worker } from '@temporalio/worker';
import type { Config } from '../src/config';
import type { Db } from '../src/db/client';
import type { ModelServer } from '../src/model-server/server';
import { workerOptionsFromConfig } from '../src/worker/worker';
import type { Cleanup } from '../test/support/cleanup';
import { runWorkers, startStack } from '../test/support/stack';
import { baselineActivities } from './baseline-activities';
import { BaselineQueue } from './baseline-workflows';

export interface WorkerSettings {
  taskQueues: string[];
  /** What the SDK compiled, not what was asked for: its default is sized from the heap limit. */
  maxCachedWorkflows: number;
  maxConcurrentActivityTaskExecutions: number;
  maxConcurrentWorkflowTaskExecutions: number;
  /** null: keel-llm has no rate limit. */
  llmMaxPerSecond: number | null;
}

export interface BenchStack {
  baseUrl: string;
  apiKey: string;
  tenantId: string;
  config: Config;
  /** The API's database client; the workers have their own pool, as separate processes would. */
  db: Db;
  /** The API's Temporal client; the baseline starts its workflows through it too. */
  temporal: Client;
  /**
   * A separate connection for waiting on results, so hundreds of `result()` long-polls don't
   * queue behind (or in front of) the API's own calls on one HTTP/2 connection.
   */
  observer: Client;
  namespace: string;
  /** For CPU accounting: the dev server runs in its own process. */
  temporalServerPid: number | undefined;
  model: ModelServer;
  workerSettings: WorkerSettings;
  /** Starts the bare-Temporal baseline workers with Keel's worker settings; resolves to their stop. */
  startBaselineWorkers(): Promise<() => Promise<void>>;
  stop(): Promise<void>;
}

/** The SDK's default workflow-task slots (worker-options.js); Keel doesn't override them. */
const SDK_DEFAULT_WORKFLOW_TASK_SLOTS = 40;

const quietBundlerLogger = {
  log: () => undefined,
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: (message: string) => console.warn(message),
  error: (message: string) => console.error(message),
};

export async function startBenchStack(cleanup: Cleanup): Promise<BenchStack> {
  const stack = await startStack({
    label: 'bench',
    production: true,
    env: {
      KEEL_EMBEDDING_MODEL: 'keel-offline-embed-1',
      // The bench measures Keel's overhead, not its per-tenant limits: a burst must not hit them.
      KEEL_RATE_LIMIT_PER_MINUTE: '1000000',
      KEEL_MAX_INFLIGHT_RUNS_PER_TENANT: '1000000',
    },
  });
  cleanup.add('stack', () => stack.stop());
  const namespace = stack.env.namespace ?? 'default';
  const fromConfig = workerOptionsFromConfig(stack.config);
  const workerSettings: WorkerSettings = {
    taskQueues: stack.workers.map((w) => w.options.taskQueue),
    maxCachedWorkflows: stack.workers[0]?.options.maxCachedWorkflows ?? Number.NaN,
    maxConcurrentActivityTaskExecutions: fromConfig.maxConcurrentActivities ?? 100,
    maxConcurrentWorkflowTaskExecutions: SDK_DEFAULT_WORKFLOW_TASK_SLOTS,
    llmMaxPerSecond: fromConfig.llmMaxPerSecond ?? null,
  };

  const observerConnection = await Connection.connect({ address: stack.env.address });
  cleanup.add('observer connection', () => observerConnection.close());
  const observer = new Client({ connection: observerConnection, namespace });

  const baselineBundle = bundleWorkflowCode({
    workflowsPath: require.resolve('./baseline-workflows'),
    logger: quietBundlerLogger,
  });

  return {
    baseUrl: stack.baseUrl,
    apiKey: stack.apiKey,
    tenantId: stack.tenantId,
    config: stack.config,
    db: stack.db,
    temporal: stack.temporal,
    observer,
    namespace,
    temporalServerPid: stack.env.pid,
    model: stack.model,
    workerSettings,
    async startBaselineWorkers() {
      const common = {
        connection: stack.env.nativeConnection,
        namespace,
        activities: baselineActivities,
        maxConcurrentActivityTaskExecutions: workerSettings.maxConcurrentActivityTaskExecutions,
      };
      const workers = [
        await Worker.create({ ...common, taskQueue: BaselineQueue.workflows, workflowBundle: await baselineBundle }),
        await Worker.create({ ...common, taskQueue: BaselineQueue.llm }),
      ];
      const stop = runWorkers(workers, 'baseline');
      cleanup.add('baseline workers', stop);
      return stop;
    },
    stop: () => cleanup.run(),
  };
}
