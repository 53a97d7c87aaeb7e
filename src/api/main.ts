import { Client, Connection } from '@temporalio/client';
import { Redis } from 'ioredis';
import { keelDataConverter } from '../codec/data-converter';
import { runOwners } from '../codec/owners';
import { loadConfig } from '../config';
import { createPrisma } from '../db/client';
import { createLogger } from '../logger';
import { createObjectStore } from '../storage';
import { createApp } from './app';
import { listen } from './server';
import { startTracing, tracingExporterFromConfig } from '../tracing/tracing';
import { OpenTelemetryWorkflowClientInterceptor } from '@temporalio/interceptors-opentelemetry';

async function main(): Promise<void> {
  const config = loadConfig();
  const log = createLogger(config, 'api');
  const exporter = tracingExporterFromConfig(config);
  const tracing = exporter ? startTracing('api', exporter) : undefined;
  const connection = await Connection.connect({ address: config.TEMPORAL_ADDRESS });
  const db = createPrisma(config.DATABASE_URL, { statementTimeoutMs: config.KEEL_REQUEST_TIMEOUT_MS });
  const temporal = new Client({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    dataConverter: keelDataConverter(config.KEEL_PAYLOAD_KEYS, runOwners(db)),
    interceptors: tracing ? { workflow: [new OpenTelemetryWorkflowClientInterceptor({ tracer: tracing.tracer })] } : {},
  });
  // No offline queue: with Redis down, rate limiting falls back at once instead of queueing.
  const redis = new Redis(config.REDIS_URL, { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
  redis.on('error', (err) => log.warn({ err: err.message }, 'redis unavailable'));
  const app = createApp({ db, temporal, config, log, redis, store: createObjectStore(config), tracer: tracing?.tracer });
  const api = await listen(app, { host: config.KEEL_API_HOST, port: config.KEEL_API_PORT, graceMs: config.KEEL_API_SHUTDOWN_GRACE_MS });
  // Slow-loris bounds at the socket level; slow handlers run out of their Temporal and Postgres deadlines.
  api.server.headersTimeout = 10_000;
  api.server.requestTimeout = config.KEEL_REQUEST_TIMEOUT_MS + 5_000;
  log.info(
    { url: `http://${config.KEEL_API_HOST}:${config.KEEL_API_PORT}`, payloadEncryption: Boolean(config.KEEL_PAYLOAD_KEYS), tracing: exporter ?? 'off' },
    'api listening',
  );
  const stop = (signal: string) => {
    log.info({ signal }, 'api stopping: refusing new connections, finishing in-flight requests');
    void api
      .stop()
      .then(async (outcome) => {
        await Promise.allSettled([db.$disconnect(), connection.close(), redis.quit(), tracing?.shutdown()]);
        log.info({ outcome }, 'api stopped');
        process.exit(outcome === 'drained' ? 0 : 1);
      });
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
