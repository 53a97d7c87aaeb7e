import { Client, Connection } from '@temporalio/client';
import { Redis } from 'ioredis';
import { loadConfig } from '../config';
import { createPrisma } from '../db/client';
import { createLogger } from '../logger';
import { createApp } from './app';

async function main(): Promise<void> {
  const config = loadConfig();
  const log = createLogger(config, 'api');
  const connection = await Connection.connect({ address: config.TEMPORAL_ADDRESS });
  const temporal = new Client({ connection, namespace: config.TEMPORAL_NAMESPACE });
  const db = createPrisma(config.DATABASE_URL);
  // No offline queue: with Redis down, rate limiting falls back at once instead of queueing.
  const redis = new Redis(config.REDIS_URL, { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
  redis.on('error', (err) => log.warn({ err: err.message }, 'redis unavailable'));
  const app = createApp({ db, temporal, config, log, redis });
  const server = app.listen(config.KEEL_API_PORT, config.KEEL_API_HOST, () => {
    log.info({ url: `http://${config.KEEL_API_HOST}:${config.KEEL_API_PORT}` }, 'api listening');
  });
  // Slow-loris bounds at the socket level; the request-timeout middleware answers slow handlers.
  server.headersTimeout = 10_000;
  server.requestTimeout = config.KEEL_REQUEST_TIMEOUT_MS + 5_000;
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'api stopping: finishing in-flight requests');
    server.close(() => {
      void Promise.allSettled([db.$disconnect(), connection.close(), redis.quit()]).then(() => process.exit(0));
    });
    server.closeIdleConnections();
    setTimeout(() => process.exit(1), 10_000).unref();
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
