/**
 * Restart the Temporal server itself mid-run: a dev server persisting to SQLite is stopped while
 * the model call is in flight and started again on the same file and port. The run must finish
 * with the model having answered once.
 */
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, type Worker } from '@temporalio/worker';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import pino from 'pino';
import { createApp } from '../../src/api/app';
import { loadConfig } from '../../src/config';
import { createPrisma, type Db } from '../../src/db/client';
import { createTestDatabase, type TestDatabase } from '../../src/db/testing';
import { createLlmClient } from '../../src/llm/client';
import { startModelServer, type ModelServer } from '../../src/model-server/server';
import { TaskQueue } from '../../src/shared';
import { createKeelWorkers } from '../../src/worker/worker';
import { createObjectStore } from '../../src/storage';
import { freePort, spawnTemporal, type ChildHandle } from '../support/processes';
import { eventually, http, quietRuntime, seedTenant } from '../support/stack';

interface RunBody {
  status: string;
  result: { answer: string } | null;
  steps: Array<{ step: string; attempts: Array<{ attempt: number; status: string }> }>;
}

describe('faults: Temporal server restarted mid-run', function () {
  this.timeout(120_000);
  let database: TestDatabase;
  let dataDir: string;
  let temporal: ChildHandle;
  let model: ModelServer;
  let db: Db;
  let clientConnection: Connection;
  let workerConnection: NativeConnection;
  let workers: Worker[] = [];
  let running: Array<Promise<void>> = [];
  let server: Server;
  let redis: Redis | undefined;
  let api: { baseUrl: string; apiKey: string };
  let port: number;
  let dbFile: string;

  const temporalReady = () =>
    eventually(async () => {
      const connection = await Connection.connect({ address: `127.0.0.1:${port}`, connectTimeout: 1_000 });
      try {
        await connection.workflowService.describeNamespace({ namespace: 'default' });
        return true;
      } finally {
        await connection.close();
      }
    }, 'the Temporal dev server to answer', 30_000);

  before(async () => {
    quietRuntime();
    database = await createTestDatabase('faults_temporal');
    dataDir = await mkdtemp(path.join(tmpdir(), 'keel-temporal-restart-'));
    dbFile = path.join(dataDir, 't.sqlite');
    port = await freePort();
    temporal = spawnTemporal({ port, dbFile });
    await temporalReady();
    model = await startModelServer({ port: 0 });
    const config = loadConfig({
      NODE_ENV: 'test',
      LOG_LEVEL: 'silent',
      DATABASE_URL: database.url,
      TEMPORAL_ADDRESS: `127.0.0.1:${port}`,
      OPENAI_BASE_URL: model.url,
      OPENAI_API_KEY: 'test',
      KEEL_MODEL: 'keel-offline-1',
      KEEL_REDIS_PREFIX: `keel-test:restart:${Date.now()}:`,
    });
    db = createPrisma(config.DATABASE_URL);
    const tenant = await seedTenant(db, 'tenant-restart');
    workerConnection = await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS });
    workers = await createKeelWorkers({
      connection: workerConnection,
      namespace: 'default',
      taskQueues: [TaskQueue.workflows, TaskQueue.llm],
      maxCachedWorkflows: 0,
      deps: { db, llm: createLlmClient(config), store: createObjectStore(config), prices: config.KEEL_MODEL_PRICES, heartbeatIntervalMs: 200 },
    });
    running = workers.map((w) => w.run());
    clientConnection = await Connection.connect({ address: config.TEMPORAL_ADDRESS });
    redis = new Redis(config.REDIS_URL, { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
    const app = createApp({ db, temporal: new Client({ connection: clientConnection }), config, store: createObjectStore(config), log: pino({ level: 'silent' }), redis });
    server = await new Promise((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    api = { baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, apiKey: tenant.apiKey };
  });

  after(async () => {
    server?.close();
    server?.closeAllConnections();
    for (const w of workers) w.shutdown();
    await Promise.allSettled(running);
    await clientConnection?.close();
    await workerConnection?.close();
    await temporal?.kill('SIGTERM');
    await db?.$disconnect();
    redis?.disconnect();
    await model?.close();
    await database?.drop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('completes the run, calling the model once', async () => {
    model.setLatency(6_000);
    const created = await http<{ id: string }>(api, 'POST', '/v1/runs', { body: { type: 'answer', input: { question: 'Does a Temporal restart lose the run?' } } });
    assert.equal(created.status, 202, JSON.stringify(created.body));
    await eventually(async () => (model.counters().chat.inFlight === 1 ? true : undefined), 'the model call to be in flight');

    await temporal.kill('SIGTERM');
    temporal = spawnTemporal({ port, dbFile });
    await temporalReady();

    const run = await eventually(async () => {
      const r = (await http<RunBody>(api, 'GET', `/v1/runs/${created.body.id}`)).body;
      return r.status === 'completed' ? r : undefined;
    }, 'the run to complete after the restart', 60_000).catch((err: unknown) => {
      throw new Error(`run did not complete; temporal stderr:\n${temporal.stderr()}`, { cause: err });
    });
    assert.ok(run.result?.answer);
    assert.equal(model.counters().chat.completed, 1, 'the model answered exactly once');
    const generate = run.steps.find((s) => s.step === 'generate')?.attempts ?? [];
    assert.deepEqual(generate.filter((a) => a.status === 'completed').length, 1);
  });
});
