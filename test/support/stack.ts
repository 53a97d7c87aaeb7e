/**
 * The real stack for integration tests: a Temporal dev server on free ports (the CLI binary
 * set-up installed), a fresh Postgres database built from the migrations, the offline model
 * server over HTTP, Keel's workers and the API on a free port. Only the model endpoint is a
 * stand-in, and it is reached through the real `openai` SDK.
 */
import { Client } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, type Worker } from '@temporalio/worker';
import { randomUUID } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { Redis } from 'ioredis';
import pino, { type Logger } from 'pino';
import { activityOptionsFromConfig } from '../../src/activities';
import { createApp } from '../../src/api/app';
import { keelDataConverter } from '../../src/codec/data-converter';
import { generateApiKey } from '../../src/auth/api-keys';
import { SCOPES } from '../../src/auth/scopes';
import { loadConfig, type Config } from '../../src/config';
import { createPrisma, type Db } from '../../src/db/client';
import { createTestDatabase } from '../../src/db/testing';
import { temporalCliPath } from '../../src/dev/temporal-cli';
import { createLlmClient } from '../../src/llm/client';
import { startModelServer, type ModelServer } from '../../src/model-server/server';
import { createObjectStore, type ObjectStore } from '../../src/storage';
import { KEEL_SEARCH_ATTRIBUTES, TaskQueue, TERMINAL_STATUSES, type RunStatus } from '../../src/shared';
import { alertWebhookFromConfig, createKeelWorkers } from '../../src/worker/worker';
import { checkerFor } from './openapi-check';

export interface TestStack {
  baseUrl: string;
  apiKey: string;
  tenantId: string;
  config: Config;
  db: Db;
  temporal: Client;
  env: TestWorkflowEnvironment;
  model: ModelServer;
  /** The API's Redis client (rate limits), for tests that build a second API process. */
  redis: Redis;
  store: ObjectStore;
  /** Adds another tenant with its own key, for isolation tests. */
  addTenant(name: string, scopes?: string[]): Promise<{ tenantId: string; apiKey: string }>;
  stop(): Promise<void>;
}

export interface StackOptions {
  label: string;
  env?: Record<string, string>;
  /** Start without workers, to observe queued runs or to start them later. */
  workers?: boolean;
  /** Object storage; default: a fresh local directory. */
  store?: ObjectStore;
  /** The API's logger; default: silent. */
  log?: Logger;
}

let runtimeInstalled = false;

/** The SDK logs every retried activity as a warning; tests expect those, so only errors show. */
export function quietRuntime(): void {
  if (runtimeInstalled) return;
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  runtimeInstalled = true;
}

export async function startTemporal(): Promise<TestWorkflowEnvironment> {
  quietRuntime();
  return TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: temporalCliPath() },
      searchAttributes: KEEL_SEARCH_ATTRIBUTES,
      ip: '127.0.0.1',
      ui: false,
      extraArgs: ['--log-level', 'error'],
    },
  });
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
  const database = await createTestDatabase(opts.label);
  const env = await startTemporal();
  const model = await startModelServer({ port: 0 });
  const config = loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    DATABASE_URL: database.url,
    TEMPORAL_ADDRESS: env.address,
    OPENAI_BASE_URL: model.url,
    OPENAI_API_KEY: 'test',
    KEEL_MODEL: 'keel-offline-1',
    KEEL_MODEL_TIMEOUT_MS: '5000',
    KEEL_DATA_DIR: await mkdtemp(path.join(tmpdir(), `keel-${opts.label}-`)),
    KEEL_REDIS_PREFIX: `keel-test:${opts.label}:${randomUUID()}:`,
    ...opts.env,
  });
  const db = createPrisma(config.DATABASE_URL);
  const seeded = await seedTenant(db, 'tenant-a');
  const store = opts.store ?? createObjectStore(config);
  const dataConverter = keelDataConverter(config.KEEL_PAYLOAD_KEYS);
  const temporal = new Client({ connection: env.connection, namespace: env.namespace ?? 'default', dataConverter });

  const workers: Worker[] = [];
  const running: Array<Promise<void>> = [];
  if (opts.workers !== false) {
    workers.push(
      ...(await createKeelWorkers({
        connection: env.nativeConnection,
        namespace: env.namespace ?? 'default',
        taskQueues: [TaskQueue.workflows, TaskQueue.llm, TaskQueue.ingest],
        maxCachedWorkflows: 0,
        dataConverter,
        deps: { db, llm: createLlmClient(config), store, ...activityOptionsFromConfig(config), heartbeatIntervalMs: 200, alertWebhook: alertWebhookFromConfig(config) },
      })),
    );
    running.push(...workers.map((w) => w.run()));
  }

  const redis = new Redis(config.REDIS_URL, { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
  const app = createApp({ db, temporal, config, store, log: opts.log ?? pino({ level: 'silent' }), redis });
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const { port } = server.address() as AddressInfo;
  if (redis.status !== 'ready') await new Promise((resolve) => redis.once('ready', resolve));

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
    addTenant: (name, scopes) => seedTenant(db, name, scopes),
    async stop() {
      await new Promise<void>((r) => server.close(() => r()));
      server.closeAllConnections();
      for (const w of workers) w.shutdown();
      await Promise.allSettled(running);
      await db.$disconnect();
      redis.disconnect();
      await model.close();
      await env.teardown();
      await database.drop();
    },
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
