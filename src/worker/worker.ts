import { bundleWorkflowCode, NativeConnection, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type { Config } from '../config';
import type { ActivityDeps } from '../activities';
import { createActivities } from '../activities';
import { TaskQueue } from '../shared';

export interface KeelWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueues: readonly string[];
  deps: ActivityDeps;
  maxConcurrentActivities?: number;
  llmMaxPerSecond?: number;
  /** Tests set 0 so every workflow task replays its history from scratch. */
  maxCachedWorkflows?: number;
  workflowBundle?: WorkflowBundleWithSourceMap;
}

let cachedBundle: Promise<WorkflowBundleWithSourceMap> | undefined;

/** Bundles the workflow code once per process; every worker in it shares the bundle. */
export function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  cachedBundle ??= bundleWorkflowCode({ workflowsPath: require.resolve('../workflows'), logger: quietBundlerLogger });
  return cachedBundle;
}

const quietBundlerLogger = {
  log: () => undefined,
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: (message: string, meta?: Record<string, unknown>) => console.warn(message, meta ?? ''),
  error: (message: string, meta?: Record<string, unknown>) => console.error(message, meta ?? ''),
};

/**
 * One Temporal worker per task queue this process serves: `keel-workflows` runs workflow code
 * and the light activities, `keel-llm` runs model calls under a queue-wide rate limit,
 * `keel-ingest` runs document work. Every worker registers every activity; the queue an
 * activity is scheduled on decides where it runs.
 */
export async function createKeelWorkers(opts: KeelWorkerOptions): Promise<Worker[]> {
  const activities = createActivities(opts.deps);
  const bundle = opts.workflowBundle ?? (await workflowBundle());
  const workers: Worker[] = [];
  for (const queue of opts.taskQueues) {
    const isWorkflowQueue = queue === TaskQueue.workflows;
    const isLlmQueue = queue === TaskQueue.llm;
    workers.push(
      await Worker.create({
        connection: opts.connection,
        namespace: opts.namespace,
        taskQueue: queue,
        activities,
        ...(isWorkflowQueue ? { workflowBundle: bundle, maxCachedWorkflows: opts.maxCachedWorkflows } : {}),
        maxConcurrentActivityTaskExecutions: opts.maxConcurrentActivities ?? 100,
        ...(isLlmQueue && opts.llmMaxPerSecond ? { maxTaskQueueActivitiesPerSecond: opts.llmMaxPerSecond } : {}),
      }),
    );
  }
  return workers;
}

export function alertWebhookFromConfig(config: Config): ActivityDeps['alertWebhook'] {
  return config.KEEL_ALERT_WEBHOOK_URL ? { url: config.KEEL_ALERT_WEBHOOK_URL, secret: config.KEEL_ALERT_WEBHOOK_SECRET } : undefined;
}

export function workerOptionsFromConfig(config: Config): Pick<KeelWorkerOptions, 'namespace' | 'taskQueues' | 'maxConcurrentActivities' | 'llmMaxPerSecond'> {
  return {
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueues: config.KEEL_WORKER_TASK_QUEUES,
    maxConcurrentActivities: config.KEEL_WORKER_MAX_CONCURRENT_ACTIVITIES,
    llmMaxPerSecond: config.KEEL_LLM_MAX_PER_SECOND,
  };
}
