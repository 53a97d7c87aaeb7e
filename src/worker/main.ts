import { Client } from '@temporalio/client';
import { NativeConnection, Runtime } from '@temporalio/worker';
import { keelDataConverter } from '../codec/data-converter';
import { startRunReconciler } from '../runs/reconciler';
import { keelRunClosedHooks } from '../runs/hooks';
import type { AddressInfo } from 'node:net';
import { loadConfig } from '../config';
import { activityOptionsFromConfig } from '../activities';
import { createPrisma } from '../db/client';
import { createLlmClient } from '../llm/client';
import { createLogger } from '../logger';
import { createObjectStore } from '../storage';
import { createMetrics } from '../metrics/metrics';
import { startWorkerMetricsServer } from './metrics-server';
import { temporalLogger } from './temporal-logger';
import { alertWebhookFromConfig, createKeelWorkers, workerOptionsFromConfig } from './worker';
import { startTracing, tracingExporterFromConfig } from '../tracing/tracing';
import { startDriftMonitor } from '../trace/drift';

async function main(): Promise<void> {
  const config = loadConfig();
  const log = createLogger(config, 'worker');
  // Port 0 turns the Temporal SDK's exporter off (e.g. several test workers on one machine).
  const sdkMetricsAddress = config.KEEL_TEMPORAL_METRICS_PORT ? `127.0.0.1:${config.KEEL_TEMPORAL_METRICS_PORT}` : undefined;
  // Process-global and only once, before any connection or worker exists.
  Runtime.install({
    logger: temporalLogger(log),
    ...(sdkMetricsAddress ? { telemetryOptions: { metrics: { prometheus: { bindAddress: sdkMetricsAddress, useSecondsForDurations: true } } } } : {}),
  });
  const metrics = createMetrics('worker');
  const exporter = tracingExporterFromConfig(config);
  const tracing = exporter ? startTracing('worker', exporter) : undefined;
  const metricsServer = await startWorkerMetricsServer({
    metrics,
    host: config.KEEL_WORKER_METRICS_HOST,
    port: config.KEEL_WORKER_METRICS_PORT,
    sdkMetricsUrl: sdkMetricsAddress ? `http://${sdkMetricsAddress}/metrics` : undefined,
  });
  const connection = await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS });
  const db = createPrisma(config.DATABASE_URL);
  const workers = await createKeelWorkers({
    connection,
    ...workerOptionsFromConfig(config, db),
    tracing,
    deps: { db, llm: createLlmClient(config), store: createObjectStore(config), ...activityOptionsFromConfig(config), metrics, alertWebhook: alertWebhookFromConfig(config) },
  });
  // Keel's view follows Temporal whoever acted (Web UI, CLI, API): see docs/run-lifecycle.md.
  const reconciler = config.KEEL_RECONCILE_INTERVAL_MS
    ? startRunReconciler({
        db,
        temporal: new Client({ connection, namespace: config.TEMPORAL_NAMESPACE, dataConverter: keelDataConverter(config.KEEL_PAYLOAD_KEYS) }),
        intervalMs: config.KEEL_RECONCILE_INTERVAL_MS,
        onClosed: keelRunClosedHooks(db),
        metrics,
        log,
      })
    : undefined;
  const stopDrift = config.KEEL_DRIFT_INTERVAL_MS
    ? startDriftMonitor({ db, metrics, log }, { days: config.KEEL_DRIFT_WINDOW_DAYS + 1, windowDays: config.KEEL_DRIFT_WINDOW_DAYS, sigma: config.KEEL_DRIFT_SIGMA, intervalMs: config.KEEL_DRIFT_INTERVAL_MS })
    : () => undefined;
  log.info(
    {
      taskQueues: config.KEEL_WORKER_TASK_QUEUES,
      model: config.llm.model,
      offline: config.llm.offline,
      payloadEncryption: Boolean(config.KEEL_PAYLOAD_KEYS),
      tracing: exporter ?? 'off',
      metricsPort: (metricsServer.address() as AddressInfo).port,
      identity: workers[0]?.options.identity,
    },
    'worker started',
  );
  // The SDK turns SIGINT/SIGTERM into Worker.shutdown(): polling stops at once, running
  // activities get KEEL_WORKER_SHUTDOWN_GRACE_MS to finish, then Worker.run resolves.
  process.once('SIGTERM', () => log.info({ graceMs: config.KEEL_WORKER_SHUTDOWN_GRACE_MS }, 'worker stopping: no new tasks, letting running activities finish'));
  await Promise.all(workers.map((w) => w.run()));
  await reconciler?.stop();
  stopDrift();
  metricsServer.close();
  await db.$disconnect();
  await connection.close();
  await tracing?.shutdown();
  log.info('worker stopped');
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
