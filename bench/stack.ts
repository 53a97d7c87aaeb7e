/**
 * The benchmark's stack, as Keel runs in production: test/support/stack.ts's `startStack` (the
 * Temporal dev server, a fresh database, the offline model server) with Keel's API and worker as
 * their own processes (`npm run start:api`, `start:worker`, production settings: the workflow
 * cache on, info logging, the run reconciler), and the bare-Temporal baseline's worker as a third
 * process. Separate processes let the report say what each one spends per run.
 */
import { Client, Connection } from '@temporalio/client';
import type { Config } from '../src/config';
import type { Db } from '../src/db/client';
import type { ModelServer } from '../src/model-server/server';
import { workerOptionsFromConfig } from '../src/worker/worker';
import type { Cleanup } from '../test/support/cleanup';
import { spawnProcess, waitForLog, type KeelProcess } from '../test/support/processes';
import type { BenchOptions } from './options';
import { startStack } from '../test/support/stack';

export interface WorkerSettings {
  taskQueues: string[];
  maxConcurrentActivityTaskExecutions: number;
  maxConcurrentWorkflowTaskExecutions: number;
  /** null: keel-llm has no rate limit. */
  llmMaxPerSecond: number | null;
  /** The bench tenant's result cache (`BENCH_TENANT_CACHE`). */
  tenantCache: 'on' | 'off';
}

/** The processes whose CPU and memory the report accounts for, by pid. */
export interface BenchProcesses {
  api: number;
  worker: number;
  baselineWorker: number;
  temporalServer: number | undefined;
}

export interface BenchStack {
  /** The API process's URL. */
  baseUrl: string;
  apiKey: string;
  tenantId: string;
  config: Config;
  /** A database client of the bench process, for checks after the load (not on the hot path). */
  db: Db;
  /** The bench process's Temporal client: the baseline starts its workflows through it. */
  temporal: Client;
  /**
   * A separate connection for waiting on results, so hundreds of `result()` long-polls don't
   * queue behind (or in front of) the baseline's start calls on one HTTP/2 connection.
   */
  observer: Client;
  namespace: string;
  /** The Temporal server's Prometheus endpoint (bench/temporal-metrics.ts counts its persistence requests). */
  temporalMetricsUrl: string;
  processes: BenchProcesses;
  model: ModelServer;
  workerSettings: WorkerSettings;
  stop(): Promise<void>;
}

/** The SDK's default workflow-task slots (worker-options.js); Keel doesn't override them. */
const SDK_DEFAULT_WORKFLOW_TASK_SLOTS = 40;

/** Extra environment for the Keel and baseline processes, e.g. `--cpu-prof` through BENCH_NODE_OPTIONS. */
function nodeOptions(): Record<string, string> {
  return process.env.BENCH_NODE_OPTIONS ? { NODE_OPTIONS: process.env.BENCH_NODE_OPTIONS } : {};
}

export async function startBenchStack(cleanup: Cleanup, opts: Pick<BenchOptions, 'BENCH_TENANT_CACHE'>): Promise<BenchStack> {
  const stack = await startStack({
    label: 'bench',
    production: true,
    temporalMetrics: true,
    workers: false,
    env: {
      KEEL_EMBEDDING_MODEL: 'keel-offline-embed-1',
      // The bench measures Keel's overhead, not its per-tenant limits: a burst must not hit them.
      KEEL_RATE_LIMIT_PER_MINUTE: '1000000',
      KEEL_MAX_INFLIGHT_RUNS_PER_TENANT: '1000000',
      // Experiments: BENCH_ENV_KEEL_RECONCILE_INTERVAL_MS=0 npm run bench passes KEEL_RECONCILE_INTERVAL_MS=0 to Keel.
      ...Object.fromEntries(Object.entries(process.env).flatMap(([k, v]) => (k.startsWith('BENCH_ENV_') && v !== undefined ? [[k.slice('BENCH_ENV_'.length), v]] : []))),
    },
  });
  cleanup.add('stack', () => stack.stop());
  if (opts.BENCH_TENANT_CACHE === 'off') await stack.db.tenant.update({ where: { id: stack.tenantId }, data: { cacheEnabled: false } });
  const namespace = stack.env.namespace ?? 'default';
  const fromConfig = workerOptionsFromConfig(stack.config);
  // Production logging (info): what each process writes per request and per run is part of its cost.
  const [worker, api, baselineWorker] = await Promise.all([
    stack.spawnWorker('keel-worker', { LOG_LEVEL: 'info', ...nodeOptions() }),
    stack.spawnApi('keel-api', { LOG_LEVEL: 'info', ...nodeOptions() }),
    spawnBaselineWorker(stack.processEnv(nodeOptions()), cleanup),
  ]);
  // A graceful stop before the stack's SIGKILL, so `--cpu-prof` profiles get written.
  cleanup.add('Keel API and worker (SIGTERM)', () => Promise.all([worker.kill('SIGTERM'), api.kill('SIGTERM')]).then(() => undefined));
  const workerSettings: WorkerSettings = {
    taskQueues: stack.config.KEEL_WORKER_TASK_QUEUES,
    maxConcurrentActivityTaskExecutions: fromConfig.maxConcurrentActivities ?? 100,
    maxConcurrentWorkflowTaskExecutions: SDK_DEFAULT_WORKFLOW_TASK_SLOTS,
    llmMaxPerSecond: fromConfig.llmMaxPerSecond ?? null,
    tenantCache: opts.BENCH_TENANT_CACHE,
  };

  const observerConnection = await Connection.connect({ address: stack.env.address });
  cleanup.add('observer connection', () => observerConnection.close());
  const observer = new Client({ connection: observerConnection, namespace });

  return {
    baseUrl: api.baseUrl,
    apiKey: stack.apiKey,
    tenantId: stack.tenantId,
    config: stack.config,
    db: stack.db,
    temporal: stack.temporal,
    observer,
    namespace,
    temporalMetricsUrl: stack.env.metricsUrl ?? '',
    processes: { api: api.pid, worker: worker.pid, baselineWorker: baselineWorker.pid, temporalServer: stack.env.pid },
    model: stack.model,
    workerSettings,
    stop: () => cleanup.run(),
  };
}

async function spawnBaselineWorker(env: Record<string, string>, cleanup: Cleanup): Promise<KeelProcess> {
  const p = spawnProcess('baseline-worker', process.execPath, ['--import', 'tsx', require.resolve('./baseline-worker')], env);
  // SIGTERM lets its workers drain; a profile (--cpu-prof) is written on that exit.
  cleanup.add('baseline worker', () => p.kill('SIGTERM'));
  await waitForLog(p, 'baseline worker started');
  return p;
}
