/**
 * The one module that builds test environments, for integration tests, fault tests, the scale
 * test and the benchmark (model: sdk-typescript's packages/test/src/helpers-integration.ts):
 *
 * - `startTemporal()`: the Temporal CLI dev server on a free port (optionally persisted to a
 *   SQLite file, so a fault test can restart it), as a TestWorkflowEnvironment;
 * - `startStack()`: that server plus a fresh Postgres database built from the migrations, the
 *   offline model server over HTTP, Keel's workers and the API, in this process; and
 * - `stack.spawnWorker()` / `stack.spawnApi()`: Keel's real entry points as child processes with
 *   the stack's configuration, for tests that need process boundaries (SIGKILL, SIGTERM, N copies).
 *
 * Only the model endpoint is a stand-in, and it is reached through the real `openai` SDK.
 */
import { Client, Connection } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { createResultCache } from '../../src/cache';
import { createMetrics, type KeelMetrics } from '../../src/metrics/metrics';
import pino, { type Logger } from 'pino';
import { activityOptionsFromConfig } from '../../src/activities';
import { createApp } from '../../src/api/app';
import { keelDataConverter } from '../../src/codec/data-converter';
import { runOwners } from '../../src/codec/owners';
import { generateApiKey } from '../../src/auth/api-keys';
import { SCOPES } from '../../src/auth/scopes';
import { loadConfig, type Config } from '../../src/config';
import { createPrisma, type Db } from '../../src/db/client';
import { createTestDatabase } from '../../src/db/testing';
import { devServerArgs, temporalCliPath } from '../../src/dev/temporal-cli';
import { createLlmClient } from '../../src/llm/client';
import { startModelServer, type ModelServer } from '../../src/model-server/server';
import { createObjectStore, type ObjectStore } from '../../src/storage';
import { TaskQueue, TERMINAL_STATUSES, type RunStatus } from '../../src/shared';
import { alertWebhookFromConfig, createKeelWorkers, workerOptionsFromConfig, workflowBundle } from '../../src/worker/worker';
import { Cleanup } from './cleanup';
import { startRunReconciler } from '../../src/runs/reconciler';
import { keelRunClosedHooks } from '../../src/runs/hooks';
import { checkerFor } from './openapi-check';
import { freePort, spawnKeel, spawnProcess, waitForLog, type KeelProcess } from './processes';

/**
 * A Temporal dev server this module started, with the SDK's test environment on top (client,
 * connections, address). `teardown()` closes the connections and stops the server.
 */
export class TemporalServer extends TestWorkflowEnvironment {
  private child!: KeelProcess;
  private args!: string[];
  /** The server's Prometheus endpoint, when launched with `metrics: true`. */
  metricsUrl?: string;

  /** The server's OS process, for CPU accounting. */
  get pid(): number {
    return this.child.pid;
  }

  /** What the server wrote, for failure messages. */
  output(): string {
    return this.child.output();
  }

  /** Stops the server (SIGTERM) and starts it again on the same port and file; needs `dbFile`. */
  async restart(): Promise<void> {
    await this.child.kill('SIGTERM');
    this.child = await launchDevServer(this.address, this.args);
  }

  override async teardown(): Promise<void> {
    await super.teardown();
    await this.child.kill('SIGTERM');
  }

  static async launch(opts: { dbFile?: string; metrics?: boolean } = {}): Promise<TemporalServer> {
    const address = `127.0.0.1:${await freePort()}`;
    const metricsPort = opts.metrics ? await freePort() : undefined;
    const args = devServerArgs({ ip: '127.0.0.1', port: Number(address.split(':')[1]), dbFile: opts.dbFile, metricsPort });
    const proc = await launchDevServer(address, args);
    try {
      const env = (await TemporalServer.createFromExistingServer({ address, namespace: 'default' })) as TemporalServer;
      env.child = proc;
      env.args = args;
      if (metricsPort !== undefined) env.metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
      return env;
    } catch (err) {
      await proc.kill('SIGKILL');
      throw err;
    }
  }
}

/**
 * The dev server picks free ports for its internal services (history, matching, worker) itself, by
 * probing: another process on the machine can take one between the probe and the bind (seen: the
 * history service's "bind: address already in use", then a crash). Such a start is tried again,
 * with new ports; any other failure is not.
 */
async function launchDevServer(address: string, args: string[], attempts = 3): Promise<KeelProcess> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await launchDevServerOnce(address, args);
    } catch (err) {
      const messages = (e: unknown): string => (e instanceof Error ? `${e.message}\n${messages(e.cause)}` : '');
      if (attempt >= attempts || !/address already in use/.test(messages(err))) throw err;
    }
  }
}

async function launchDevServerOnce(address: string, args: string[]): Promise<KeelProcess> {
  const proc = spawnProcess('temporal', temporalCliPath(), args, {});
  // A server that exits while starting has failed: say so at once, not after the wait below.
  let stopWaiting = false;
  const exited = proc.exited.then(({ code }) => {
    if (!stopWaiting) throw new Error(`the Temporal dev server exited with code ${code}:\n${proc.output()}`);
  });
  exited.catch(() => undefined);
  try {
    await Promise.race([exited, eventually(async () => {
      const connection = await Connection.connect({ address, connectTimeout: 1_000 });
      try {
        // The frontend answers before the namespace exists; workers need the namespace.
        await connection.workflowService.describeNamespace({ namespace: 'default' });
        return true;
      } finally {
        await connection.close();
      }
    }, `the Temporal dev server at ${address}`, 30_000)]);
  } catch (err) {
    await proc.kill('SIGKILL');
    throw err;
  } finally {
    stopWaiting = true;
  }
  return proc;
}

export interface TestStack {
  baseUrl: string;
  apiKey: string;
  tenantId: string;
  config: Config;
  db: Db;
  temporal: Client;
  env: TemporalServer;
  model: ModelServer;
  /** The API's Redis client (rate limits), for tests that build a second API process. */
  redis: Redis;
  store: ObjectStore;
  /** The API's and the in-process worker's metrics (the cache counts on both sides). */
  metrics: { api: KeelMetrics; worker: KeelMetrics };
  /** The in-process Keel workers (none with `workers: false`). */
  workers: Worker[];
  /** Adds another tenant with its own key, for isolation tests. */
  addTenant(name: string, scopes?: string[]): Promise<{ tenantId: string; apiKey: string }>;
  /** The environment a Keel process needs to join this stack (plus `extra`). */
  processEnv(extra?: Record<string, string>): Record<string, string>;
  /** `npm run start:worker` against this stack; resolves once it polls. Stopped with the stack. */
  spawnWorker(name?: string, extra?: Record<string, string>): Promise<KeelProcess>;
  /** `npm run start:api` against this stack on a free port; resolves once it listens. Stopped with the stack. */
  spawnApi(name?: string, extra?: Record<string, string>): Promise<KeelProcess & { baseUrl: string }>;
  stop(): Promise<void>;
}

export interface StackOptions {
  label: string;
  env?: Record<string, string>;
  /** Start without in-process workers, to observe queued runs or to run workers as processes. */
  workers?: boolean;
  /** Object storage; default: a fresh local directory. */
  store?: ObjectStore;
  /** The API's logger; default: silent. */
  log?: Logger;
  /** Persist Temporal to this SQLite file, so `stack.env.restart()` keeps its state. */
  temporalDbFile?: string;
  /** Serve the Temporal server's Prometheus metrics (`stack.env.metricsUrl`): the benchmark counts its persistence requests. */
  temporalMetrics?: boolean;
  /**
   * Production worker settings (the benchmark): the workflow cache on and the worker options from
   * config. Tests keep the cache off so every workflow task replays its history.
   */
  production?: boolean;
}

let runtimeInstalled = false;

/** The SDK logs every retried activity as a warning; tests expect those, so only errors show. */
export function quietRuntime(): void {
  if (runtimeInstalled) return;
  Runtime.install({
    logger: new DefaultLogger('ERROR'),
    telemetryOptions: { logging: { filter: { core: 'ERROR', other: 'ERROR' }, forward: {} } },
  });
  runtimeInstalled = true;
}

/** A Temporal dev server on a free port with Keel's search attributes; `teardown()` stops it. */
export async function startTemporal(opts: { dbFile?: string; metrics?: boolean } = {}): Promise<TemporalServer> {
  quietRuntime();
  return TemporalServer.launch(opts);
}

/** A tenant with one key; by default the key has every scope, so tests of any route can use it. */
export async function seedTenant(db: Db, name: string, scopes: string[] = [...SCOPES]): Promise<{ tenantId: string; apiKey: string }> {
  const tenantId = randomUUID();
  await db.tenant.create({ data: { id: tenantId, name } });
  const key = generateApiKey();
  await db.apiKey.create({
    data: { id: randomUUID(), tenantId, name: `${name} test key`, prefix: key.prefix, hash: key.hash, scopes },
  });
  return { tenantId, apiKey: key.key };
}

export async function startStack(opts: StackOptions): Promise<TestStack> {
  const cleanup = new Cleanup();
  try {
    return await buildStack(opts, cleanup);
  } catch (err) {
    await cleanup.run();
    throw err;
  }
}

async function buildStack(opts: StackOptions, cleanup: Cleanup): Promise<TestStack> {
  const database = await createTestDatabase(opts.label);
  cleanup.add('database', () => database.drop());
  const env = await startTemporal({ dbFile: opts.temporalDbFile, metrics: opts.temporalMetrics });
  cleanup.add('Temporal dev server', () => env.teardown());
  const model = await startModelServer({ port: 0 });
  cleanup.add('model server', () => model.close());
  const dataDir = await mkdtemp(path.join(tmpdir(), `keel-${opts.label}-`));
  cleanup.add('data directory', () => rm(dataDir, { recursive: true, force: true }));
  // Kept as variables, not only as parsed config, so child processes get the very same settings.
  const configEnv: Record<string, string> = {
    NODE_ENV: opts.production ? 'production' : 'test',
    LOG_LEVEL: 'silent',
    DATABASE_URL: database.url,
    TEMPORAL_ADDRESS: env.address,
    OPENAI_BASE_URL: model.url,
    OPENAI_API_KEY: 'test',
    KEEL_MODEL: 'keel-offline-1',
    KEEL_MODEL_TIMEOUT_MS: '5000',
    KEEL_DATA_DIR: dataDir,
    KEEL_REDIS_PREFIX: `keel-test:${opts.label}:${randomUUID()}:`,
    ...opts.env,
  };
  const config = loadConfig(configEnv);
  const db = createPrisma(config.DATABASE_URL);
  cleanup.add('API database client', () => db.$disconnect());
  const seeded = await seedTenant(db, 'tenant-a');
  const store = opts.store ?? createObjectStore(config);
  const dataConverter = keelDataConverter(config.KEEL_PAYLOAD_KEYS, runOwners(db));
  const temporal = new Client({ connection: env.connection, namespace: env.namespace ?? 'default', dataConverter });

  // The stack's result cache: one per side, as in production (API fast path; worker lookups and stores).
  const cacheRedis = new Redis(config.REDIS_URL, { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
  cacheRedis.on('error', () => undefined);
  const llm = createLlmClient(config);
  const workerMetrics = createMetrics('worker');
  const apiMetrics = createMetrics('api');
  const workerCache = createResultCache(config, { redis: cacheRedis, db, llm, metrics: workerMetrics });
  const apiCache = createResultCache(config, { redis: cacheRedis, db, metrics: apiMetrics });

  const workers: Worker[] = [];
  if (opts.workers !== false) {
    // The workers' own pool, as a separate worker process would have.
    const workerDb = createPrisma(config.DATABASE_URL);
    cleanup.add('workers database client', () => workerDb.$disconnect());
    const fromConfig = workerOptionsFromConfig(config);
    workers.push(
      ...(await createKeelWorkers({
        connection: env.nativeConnection,
        namespace: env.namespace ?? 'default',
        taskQueues: [TaskQueue.workflows, TaskQueue.llm, TaskQueue.ingest],
        dataConverter,
        ...(opts.production
          ? { maxConcurrentActivities: fromConfig.maxConcurrentActivities, llmMaxPerSecond: fromConfig.llmMaxPerSecond }
          : { maxCachedWorkflows: TEST_WORKFLOW_CACHE }),
        deps: {
          db: workerDb,
          llm,
          cache: workerCache,
          metrics: workerMetrics,
          store,
          ...activityOptionsFromConfig(config),
          ...(opts.production ? {} : { heartbeatIntervalMs: 200 }),
          alertWebhook: alertWebhookFromConfig(config),
        },
      })),
    );
    cleanup.add('workers', runWorkers(workers));
    // What every worker process runs beside its workers (src/worker/main.ts): rows follow Temporal.
    if (config.KEEL_RECONCILE_INTERVAL_MS) {
      const reconciler = startRunReconciler({ db: workerDb, temporal, intervalMs: config.KEEL_RECONCILE_INTERVAL_MS, lookbackMs: 60_000, onClosed: keelRunClosedHooks(workerDb) });
      cleanup.add('run reconciler', () => reconciler.stop());
    }
  }

  const redis = new Redis(config.REDIS_URL, { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
  redis.on('error', () => undefined);
  cleanup.add('Redis client', async () => redis.disconnect());
  const app = createApp({ db, temporal, config, store, log: opts.log ?? pino({ level: 'silent' }), redis, metrics: apiMetrics, cache: apiCache });
  const server: Server = createServer(app);
  // A burst (the benchmark, limit tests) opens hundreds of connections at once; the default backlog (511) can refuse some.
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
  for (const client of [redis, cacheRedis]) if (client.status !== 'ready') await new Promise((resolve) => client.once('ready', resolve));

  const processEnv = (extra: Record<string, string> = {}) => ({
    ...configEnv,
    LOG_LEVEL: 'error',
    // Metrics on an ephemeral port and Temporal's exporter off: several workers never collide on ports.
    KEEL_WORKER_METRICS_PORT: '0',
    KEEL_TEMPORAL_METRICS_PORT: '0',
    ...extra,
  });
  const track = <T extends KeelProcess>(p: T): T => {
    cleanup.add(p.name, () => p.kill('SIGKILL'));
    return p;
  };
  let spawned = 0;

  return {
    baseUrl: `http://127.0.0.1:${port}`,
    apiKey: seeded.apiKey,
    tenantId: seeded.tenantId,
    config,
    db,
    temporal,
    env,
    model,
    redis,
    store,
    metrics: { api: apiMetrics, worker: workerMetrics },
    workers,
    addTenant: (name, scopes) => seedTenant(db, name, scopes),
    processEnv,
    async spawnWorker(name = `worker-${++spawned}`, extra = {}) {
      const worker = track(spawnKeel(name, 'src/worker/main.ts', processEnv({ LOG_LEVEL: 'info', ...extra })));
      await waitForLog(worker, 'worker started');
      return worker;
    },
    async spawnApi(name = `api-${++spawned}`, extra = {}) {
      const apiPort = extra.KEEL_API_PORT ?? String(await freePort());
      const api = track(spawnKeel(name, 'src/api/main.ts', processEnv({ LOG_LEVEL: 'info', KEEL_API_PORT: apiPort, ...extra })));
      await waitForLog(api, 'api listening');
      return Object.assign(api, { baseUrl: `http://127.0.0.1:${apiPort}` });
    },
    // The determinism guard for everything the tests ran: before teardown, the most recent closed
    // workflows are replayed against the current code; a non-determinism error fails the test file.
    stop: async () => {
      const replayed = opts.workers === false ? undefined : await replayRecentHistories(temporal).catch((err: unknown) => err);
      await cleanup.run();
      if (replayed instanceof Error) throw replayed;
    },
  };
}

/**
 * The in-process workers' workflow cache in tests. Local activities (the answer workflow's
 * bookkeeping, docs/lean-orchestration.md) need their workflow to stay cached while they run: with
 * no cache, core buffers every other workflow task until a 10 s task timeout. Determinism is checked
 * instead by replaying what ran (`replayRecentHistories`) and the recorded fixtures (test/replay.test.ts).
 */
const TEST_WORKFLOW_CACHE = 100;
/** How many of a stack's most recent closed workflows are replayed when it stops. */
const REPLAYED_PER_STACK = 30;

/** Replays the stack's most recent closed workflows with today's code; throws on the first one that does not replay. */
async function replayRecentHistories(temporal: Client): Promise<void> {
  const histories = [];
  for await (const w of temporal.workflow.list({ query: 'ExecutionStatus != "Running"' })) {
    if (histories.length >= REPLAYED_PER_STACK) break;
    histories.push({ workflowId: w.workflowId, history: await temporal.workflow.getHandle(w.workflowId, w.runId).fetchHistory() });
  }
  if (histories.length === 0) return;
  for await (const result of Worker.runReplayHistories({ workflowBundle: await workflowBundle(), dataConverter: temporal.options.dataConverter }, histories)) {
    if (result.error) throw new Error(`workflow ${result.workflowId} does not replay with the current code: ${String(result.error)}`);
  }
}

/** Runs workers and returns an idempotent stop; a worker that dies is reported, not swallowed. */
export function runWorkers(workers: Worker[], label = 'Keel'): () => Promise<void> {
  const running = workers.map((w) =>
    w.run().catch((err: unknown) => {
      console.error(`a ${label} worker stopped with an error: ${err instanceof Error ? err.message : String(err)}`);
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

/** Polls until `check` returns a value, with a deadline: no fixed sleeps in tests. */
export async function eventually<T>(check: () => Promise<T | undefined>, what: string, timeoutMs = 20_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > until) throw new Error(`Timed out waiting for ${what}`, { cause: last });
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Polls `GET /v1/runs/:id` until the run reaches a terminal status. */
export async function waitForRun<T extends { status: string }>(
  stack: Pick<TestStack, 'baseUrl' | 'apiKey'>,
  id: string,
  timeoutMs = 20_000,
): Promise<T> {
  return eventually(async () => {
    const res = await http<T>(stack, 'GET', `/v1/runs/${id}`);
    return TERMINAL_STATUSES.includes(res.body.status as RunStatus) ? res.body : undefined;
  }, `run ${id} to finish`, timeoutMs);
}

export interface HttpResult<T = unknown> {
  status: number;
  headers: Headers;
  body: T;
}

export async function http<T = Record<string, unknown>>(
  stack: Pick<TestStack, 'baseUrl' | 'apiKey'>,
  method: string,
  path: string,
  opts: { body?: unknown; rawBody?: string; form?: FormData; headers?: Record<string, string>; apiKey?: string | null } = {},
): Promise<HttpResult<T>> {
  const headers: Record<string, string> = { ...opts.headers };
  const key = opts.apiKey === undefined ? stack.apiKey : opts.apiKey;
  if (key !== null) headers.authorization = `Bearer ${key}`;
  let body: string | undefined;
  if (opts.rawBody !== undefined) body = opts.rawBody;
  else if (opts.body !== undefined) body = JSON.stringify(opts.body);
  if (body !== undefined && !headers['content-type']) headers['content-type'] = 'application/json';
  // A form goes as multipart/form-data; fetch sets the boundary.
  const res = await fetch(stack.baseUrl + path, { method, headers, body: opts.form ?? body });
  const text = await res.text();
  // JSON bodies are parsed; others (a downloaded file, metrics) stay text.
  const json = /^application\/(?:[\w.+-]*\+)?json\b/.test(res.headers.get('content-type') ?? '');
  const parsed = (text && json ? JSON.parse(text) : text || undefined) as T;
  const mismatches = (await checkerFor(stack.baseUrl)).check(method, path, res.status, res.headers.get('content-type'), parsed);
  if (mismatches.length) throw new Error(`response does not match the OpenAPI document: ${mismatches.join('; ')}`);
  return { status: res.status, headers: res.headers, body: parsed };
}
