import { NativeConnection, Runtime } from '@temporalio/worker';
import { loadConfig } from '../config';
import { createPrisma } from '../db/client';
import { createLlmClient } from '../llm/client';
import { createLogger } from '../logger';
import { temporalLogger } from './temporal-logger';
import { alertWebhookFromConfig, createKeelWorkers, workerOptionsFromConfig } from './worker';

async function main(): Promise<void> {
  const config = loadConfig();
  const log = createLogger(config, 'worker');
  Runtime.install({ logger: temporalLogger(log) });
  const connection = await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS });
  const db = createPrisma(config.DATABASE_URL);
  const workers = await createKeelWorkers({
    connection,
    ...workerOptionsFromConfig(config),
    deps: { db, llm: createLlmClient(config), prices: config.KEEL_MODEL_PRICES, alertWebhook: alertWebhookFromConfig(config) },
  });
  log.info({ taskQueues: config.KEEL_WORKER_TASK_QUEUES, model: config.llm.model, offline: config.llm.offline }, 'worker started');
  // Worker.run resolves after shutdown (the SDK handles SIGINT/SIGTERM): running activities get
  // the shutdown grace time to finish before the process exits.
  await Promise.all(workers.map((w) => w.run()));
  await db.$disconnect();
  await connection.close();
  log.info('worker stopped');
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
