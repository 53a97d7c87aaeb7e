/**
 * The benchmark's own stack, built from the same pieces as the integration-test stack but with
 * production worker settings: the test stack disables the workflow cache (so every task
 * replays), which is right for catching non-determinism and wrong for measuring throughput.
 */
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { mkdtemp, rm } from 'node:fs/promises';
import { Redis } from 'ioredis';
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { activityOptionsFromConfig } from '../src/activities';
import { createApp } from '../src/api/app';
import { createObjectStore } from '../src/storage';
import { loadConfig, type Config } from '../src/config';
import { createPrisma, type Db } from '../src/db/client';
import { createTestDatabase } from '../src/db/testing';
import { createLlmClient } from '../src/llm/client';
import { startModelServer, type ModelServer } from '../src/model-server/server';
import { TaskQueue } from '../src/shared';
import { createKeelWorkers, workerOptionsFromConfig } from '../src/worker/worker';
import { seedTenant } from '../test/support/stack';
import { baselineActivities } from './baseline-activities';
import { BaselineQueue } from './baseline-workflows';
import { Cleanup } from './cleanup';
import { startDevServer } from './temporal-server';

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

let runtimeInstalled = false;

/** Must run before anything touches the Temporal runtime, or core logs go to stderr at WARN. */
function installQuietRuntime(): void {
  if (runtimeInstalled) return;
  Runtime.install({
    logger: new DefaultLogger('ERROR'),
    telemetryOptions: { logging: { filter: { core: 'ERROR', other: 'ERROR' }, forward: {} } },
  });
  runtimeInstalled = true;
}

export async function startBenchStack(cleanup: Cleanup): Promise<BenchStack> {
  installQuietRuntime();

  const database = await createTestDatabase('bench');
  cleanup.add('database', () => database.drop());

  const temporalServer = await startDevServer();
  cleanup.add('Temporal dev server', () => temporalServer.stop());
  const namespace = 'default';
  const workerConnection = await NativeConnection.connect({ address: temporalServer.address });
  cleanup.add('worker connection', () => workerConnection.close());
  const apiConnection = await Connection.connect({ address: temporalServer.address });
  cleanup.add('API connection', () => apiConnection.close());
  const temporal = new Client({ connection: apiConnection, namespace });

  const model = await startModelServer({ port: 0, latencyMs: 0 });
  cleanup.add('model server', () => model.close());

  // Uploaded documents go to a scratch object store that goes away with the stack.
  const dataDir = await mkdtemp(path.join(tmpdir(), 'keel-bench-'));
  cleanup.add('bench object store', () => rm(dataDir, { recursive: true, force: true }));
  const config = loadConfig({
    NODE_ENV: 'production',
    LOG_LEVEL: 'silent',
    DATABASE_URL: database.url,
    TEMPORAL_ADDRESS: temporalServer.address,
    TEMPORAL_NAMESPACE: namespace,
    OPENAI_BASE_URL: model.url,
    OPENAI_API_KEY: 'bench',
    KEEL_MODEL: 'keel-offline-1',
    KEEL_EMBEDDING_MODEL: 'keel-offline-embed-1',
    KEEL_DATA_DIR: dataDir,
    // The bench measures Keel's overhead, not its per-tenant limits: a burst must not hit them.
    KEEL_RATE_LIMIT_PER_MINUTE: '1000000',
    KEEL_MAX_INFLIGHT_RUNS_PER_TENANT: '1000000',
    KEEL_REDIS_PREFIX: `keel-bench:${randomUUID()}:`,
  });

  const apiDb = createPrisma(config.DATABASE_URL);
  cleanup.add('API database client', () => apiDb.$disconnect());
  const workerDb = createPrisma(config.DATABASE_URL);
  cleanup.add('worker database client', () => workerDb.$disconnect());
  const tenant = await seedTenant(apiDb, 'bench');

  const fromConfig = workerOptionsFromConfig(config, workerDb);
  // keel-ingest has no work in these sections; a worker polling it would only add idle polls.
  const taskQueues = [TaskQueue.workflows, TaskQueue.llm, TaskQueue.ingest];
  const store = createObjectStore(config);
  const maxConcurrentActivityTaskExecutions = fromConfig.maxConcurrentActivities ?? 100;
  const keelWorkers = await createKeelWorkers({
    connection: workerConnection,
    namespace,
    taskQueues,
    maxConcurrentActivities: maxConcurrentActivityTaskExecutions,
    llmMaxPerSecond: fromConfig.llmMaxPerSecond,
    deps: { db: workerDb, llm: createLlmClient(config), store, ...activityOptionsFromConfig(config) },
  });
  const workerSettings: WorkerSettings = {
    taskQueues,
    maxCachedWorkflows: keelWorkers[0]?.options.maxCachedWorkflows ?? Number.NaN,
    maxConcurrentActivityTaskExecutions,
    maxConcurrentWorkflowTaskExecutions: SDK_DEFAULT_WORKFLOW_TASK_SLOTS,
    llmMaxPerSecond: fromConfig.llmMaxPerSecond ?? null,
  };
  cleanup.add('Keel workers', runWorkers(keelWorkers, 'Keel'));

  const observerConnection = await Connection.connect({ address: temporalServer.address });
  cleanup.add('observer connection', () => observerConnection.close());
  const observer = new Client({ connection: observerConnection, namespace });

  const redis = new Redis(config.REDIS_URL, { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
  cleanup.add('Redis client', async () => redis.disconnect());
  const app = createApp({ db: apiDb, temporal, config, store, log: pino({ level: 'silent' }), redis });
  const server: Server = createServer(app);
  // A burst opens hundreds of connections at once; the default backlog (511) can refuse some.
  server.listen({ host: '127.0.0.1', port: 0, backlog: 4096 });
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  cleanup.add('API server', async () => {
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  });
  const { port } = server.address() as AddressInfo;

  const baselineBundle = bundleWorkflowCode({
    workflowsPath: require.resolve('./baseline-workflows'),
    logger: quietBundlerLogger,
  });

  return {
    baseUrl: `http://127.0.0.1:${port}`,
    apiKey: tenant.apiKey,
    tenantId: tenant.tenantId,
    config,
    db: apiDb,
    temporal,
    observer,
    namespace,
    temporalServerPid: temporalServer.pid,
    model,
    workerSettings,
    async startBaselineWorkers() {
      const common = {
        connection: workerConnection,
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

/** Runs workers and returns an idempotent stop; a worker that dies is reported, not swallowed. */
function runWorkers(workers: Worker[], label: string): () => Promise<void> {
  const running = workers.map((w) =>
    w.run().catch((err: unknown) => {
      console.error(`bench: a ${label} worker stopped with an error: ${err instanceof Error ? err.message : String(err)}`);
    }),
  );
  let stopping: Promise<void> | undefined;
  return () => {
    stopping ??= (async () => {
      for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
      await Promise.all(running);
    })();
    return stopping;
  };
}
