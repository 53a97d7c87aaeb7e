/**
 * A Keel worker in its own process, so a test can SIGKILL it mid-run: configured from the
 * environment like src/worker/main.ts, polling every task queue.
 */
import { NativeConnection, Runtime, DefaultLogger } from '@temporalio/worker';
import { activityOptionsFromConfig } from '../../src/activities';
import { loadConfig } from '../../src/config';
import { createPrisma } from '../../src/db/client';
import { createLlmClient } from '../../src/llm/client';
import { createObjectStore } from '../../src/storage';
import { TaskQueue } from '../../src/shared';
import { createKeelWorkers } from '../../src/worker/worker';

async function main(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  const config = loadConfig();
  const connection = await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS });
  const db = createPrisma(config.DATABASE_URL);
  const workers = await createKeelWorkers({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueues: [TaskQueue.workflows, TaskQueue.llm, TaskQueue.ingest],
    maxCachedWorkflows: 0,
    deps: { db, llm: createLlmClient(config), store: createObjectStore(config), ...activityOptionsFromConfig(config), heartbeatIntervalMs: 200 },
  });
  process.stdout.write('worker ready\n');
  await Promise.all(workers.map((w) => w.run()));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
