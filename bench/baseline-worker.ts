/**
 * The bare-Temporal baseline's worker as its own process, as Keel's worker is one (bench/stack.ts
 * spawns both), so the benchmark can say how much CPU and memory each process spends per run.
 * Same connection settings, activity slots and workflow cache defaults as Keel's worker.
 */
import { NativeConnection, Worker, bundleWorkflowCode } from '@temporalio/worker';
import { loadConfig } from '../src/config';
import { createPrisma } from '../src/db/client';
import { createLlmClient } from '../src/llm/client';
import { activityOptionsFromConfig } from '../src/activities';
import { createBaselineActivities } from './baseline-activities';
import { BaselineQueue } from './baseline-workflows';

const say = (msg: string, extra: Record<string, unknown> = {}) => process.stdout.write(`${JSON.stringify({ msg, ...extra })}\n`);

async function main(): Promise<void> {
  const config = loadConfig();
  const connection = await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS });
  const db = createPrisma(config.DATABASE_URL);
  const activities = createBaselineActivities({ db, llm: createLlmClient(config), ...activityOptionsFromConfig(config) });
  const workflowBundle = await bundleWorkflowCode({ workflowsPath: require.resolve('./baseline-workflows'), logger: { log: () => undefined, trace: () => undefined, debug: () => undefined, info: () => undefined, warn: () => undefined, error: (m: string) => say('bundler error', { error: m }) } });
  const common = { connection, namespace: config.TEMPORAL_NAMESPACE, activities, maxConcurrentActivityTaskExecutions: config.KEEL_WORKER_MAX_CONCURRENT_ACTIVITIES ?? 100 };
  const workers = [
    await Worker.create({ ...common, taskQueue: BaselineQueue.workflows, workflowBundle }),
    await Worker.create({ ...common, taskQueue: BaselineQueue.llm }),
  ];
  say('baseline worker started');
  // The SDK shuts the workers down on SIGINT/SIGTERM; run() resolves once they have drained.
  await Promise.all(workers.map((w) => w.run()));
  await db.$disconnect();
  await connection.close();
}

main().catch((err: unknown) => {
  say('baseline worker failed', { error: err instanceof Error ? err.stack : String(err) });
  process.exit(1);
});
