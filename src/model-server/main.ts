import { loadConfig } from '../config';
import { createLogger } from '../logger';
import { startModelServer } from './server';

/** Runs the bundled offline model server until SIGINT/SIGTERM. */
async function main(): Promise<void> {
  const config = loadConfig();
  const log = createLogger(config, 'model-server');
  const server = await startModelServer({
    host: config.KEEL_OFFLINE_MODEL_HOST,
    port: config.KEEL_OFFLINE_MODEL_PORT,
    latencyMs: config.KEEL_OFFLINE_MODEL_LATENCY_MS,
    faults: config.KEEL_OFFLINE_MODEL_FAULTS,
  });
  log.info(
    { url: server.url, latencyMs: config.KEEL_OFFLINE_MODEL_LATENCY_MS, faults: config.KEEL_OFFLINE_MODEL_FAULTS || undefined },
    `offline model server listening at ${server.url}`,
  );
  if (server.embeddingFallbackReason) {
    log.warn(
      { reason: server.embeddingFallbackReason },
      'multilingual-e5-small is not available: embeddings are hashing vectors (keel-offline-embed-1), which cannot recognise paraphrases; semantic caching is off',
    );
  }

  const stop = (signal: NodeJS.Signals) => {
    log.info({ signal }, 'offline model server stopping');
    server.close().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'offline model server failed to close');
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((err: unknown) => {
  // Config and fault-spec errors carry messages written for the operator; print them plainly.
  console.error(err instanceof Error ? `${err.name}: ${err.message}` : err);
  process.exit(1);
});
