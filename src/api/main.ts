import { Client, Connection } from '@temporalio/client';
import { keelDataConverter } from '../codec/data-converter';
import { loadConfig } from '../config';
import { createPrisma } from '../db/client';
import { createLogger } from '../logger';
import { createApp } from './app';
import { listen } from './server';

async function main(): Promise<void> {
  const config = loadConfig();
  const log = createLogger(config, 'api');
  const connection = await Connection.connect({ address: config.TEMPORAL_ADDRESS });
  const temporal = new Client({ connection, namespace: config.TEMPORAL_NAMESPACE, dataConverter: keelDataConverter(config.KEEL_PAYLOAD_KEYS) });
  const db = createPrisma(config.DATABASE_URL);
  const app = createApp({ db, temporal, config, log });
  const api = await listen(app, { host: config.KEEL_API_HOST, port: config.KEEL_API_PORT, graceMs: config.KEEL_API_SHUTDOWN_GRACE_MS });
  log.info({ url: `http://${config.KEEL_API_HOST}:${config.KEEL_API_PORT}`, payloadEncryption: Boolean(config.KEEL_PAYLOAD_KEYS) }, 'api listening');
  const stop = (signal: string) => {
    log.info({ signal }, 'api stopping: refusing new connections, finishing in-flight requests');
    void api
      .stop()
      .then(async (outcome) => {
        await Promise.allSettled([db.$disconnect(), connection.close()]);
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
