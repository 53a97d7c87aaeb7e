import { Client, Connection } from '@temporalio/client';
import { loadConfig } from '../config';
import { createPrisma } from '../db/client';
import { createLogger } from '../logger';
import { createObjectStore } from '../storage';
import { createApp } from './app';

async function main(): Promise<void> {
  const config = loadConfig();
  const log = createLogger(config, 'api');
  const connection = await Connection.connect({ address: config.TEMPORAL_ADDRESS });
  const temporal = new Client({ connection, namespace: config.TEMPORAL_NAMESPACE });
  const db = createPrisma(config.DATABASE_URL);
  const app = createApp({ db, temporal, config, log, store: createObjectStore(config) });
  const server = app.listen(config.KEEL_API_PORT, config.KEEL_API_HOST, () => {
    log.info({ url: `http://${config.KEEL_API_HOST}:${config.KEEL_API_PORT}` }, 'api listening');
  });
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'api stopping: finishing in-flight requests');
    server.close(() => {
      void Promise.allSettled([db.$disconnect(), connection.close()]).then(() => process.exit(0));
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
