/**
 * `npm start`: the whole stack on one machine. Temporal dev server (state persisted in
 * KEEL_DATA_DIR, Web UI), the offline model server when no model endpoint is configured, the
 * worker and the API. A Keel process that dies is restarted with backoff; Temporal dying stops
 * the stack. Ctrl-C or SIGTERM stops every child and waits for them.
 */
import { Connection } from '@temporalio/client';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join, resolve } from 'node:path';
import { buildId } from '../src/build-info';
import { applyMigrations } from '../src/db/migrate';
import { loadConfig } from '../src/config';
import { AesGcmPayloadCodec } from '../src/codec/aes-gcm-codec';
import { DEFAULT_RESTART_POLICY, restartDelay } from '../src/dev/restart-policy';
import { devServerArgs, PROJECT_ROOT, temporalCliPath } from '../src/dev/temporal-cli';
import { startUiCodecServer } from '../src/dev/ui-codec-server';

const config = loadConfig();
// One build id for every child (recorded with runs and ledger attempts), asked of git once.
process.env.KEEL_BUILD_ID ??= buildId();
const children: Array<{ name: string; proc: ChildProcess }> = [];
let stopping = false;

function prefixLines(name: string, stream: NodeJS.ReadableStream | null, out: NodeJS.WriteStream): void {
  let buffered = '';
  stream?.setEncoding('utf8');
  stream?.on('data', (chunk: string) => {
    buffered += chunk;
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    for (const line of lines) out.write(`[${name}] ${line}\n`);
  });
}

/**
 * Starts a child. A Keel process (API, worker, model server) that dies is started again after
 * a backoff (src/dev/restart-policy.ts), logged, while the rest of the stack keeps running:
 * a request or a document that kills the API or a worker must not take Temporal and every
 * other tenant down with it. Temporal dying stops the stack: it holds the state everything
 * else needs, and restarting it under a running worker and API would hide why it died.
 */
function launch(name: string, command: string, args: string[], restartPrevDelayMs?: number): ChildProcess {
  const startedAt = Date.now();
  const proc = spawn(command, args, { cwd: PROJECT_ROOT, env: process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  prefixLines(name, proc.stdout, process.stdout);
  prefixLines(name, proc.stderr, process.stderr);
  proc.on('exit', (code, signal) => {
    if (stopping) return;
    const how = signal ?? `code ${code}`;
    if (name === 'temporal') {
      console.error(`[start] ${name} exited unexpectedly (${how}); stopping the stack.`);
      void stopAll(1);
      return;
    }
    const delay = restartDelay(DEFAULT_RESTART_POLICY, restartPrevDelayMs, Date.now() - startedAt);
    console.error(`[start] ${name} exited unexpectedly (${how}) after ${Math.round((Date.now() - startedAt) / 1000)} s; restarting it in ${delay} ms.`);
    setTimeout(() => {
      if (stopping) return;
      const index = children.findIndex((c) => c.proc === proc);
      if (index >= 0) children.splice(index, 1);
      launch(name, command, args, delay);
    }, delay);
  });
  children.push({ name, proc });
  return proc;
}

const tsEntry = (file: string) => ['--import', 'tsx', join(PROJECT_ROOT, file)];

function portOpen(host: string, port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = createConnection({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      done(true);
    });
    socket.once('error', () => done(false));
  });
}

async function waitForTemporal(address: string, deadlineMs: number): Promise<void> {
  const until = Date.now() + deadlineMs;
  for (;;) {
    try {
      const connection = await Connection.connect({ address, connectTimeout: 1000 });
      await connection.workflowService.getSystemInfo({});
      await connection.close();
      return;
    } catch (err) {
      if (Date.now() > until) throw new Error(`Temporal did not become reachable at ${address}`, { cause: err });
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/**
 * With payload encryption on, the Web UI gets a loopback-only codec endpoint so an operator on
 * this machine reads runs in clear text with no setting (docs/web-ui.md). Returns the dev
 * server's flags for it.
 */
async function startWebUiCodec(): Promise<string[]> {
  if (!config.KEEL_PAYLOAD_KEYS) return [];
  const server = await startUiCodecServer({ codec: new AesGcmPayloadCodec(config.KEEL_PAYLOAD_KEYS), uiPort: config.TEMPORAL_UI_PORT, namespace: config.TEMPORAL_NAMESPACE });
  console.log(`[start] Web UI codec (development, loopback only) at ${server.endpoint}`);
  return ['--ui-codec-endpoint', server.endpoint];
}

async function stopGroup(group: Array<{ name: string; proc: ChildProcess }>, graceMs: number): Promise<void> {
  const alive = group.filter((c) => c.proc.exitCode === null && c.proc.signalCode === null);
  for (const c of alive) c.proc.kill('SIGTERM');
  const exited = Promise.all(alive.map((c) => new Promise<void>((r) => c.proc.once('exit', () => r()))));
  const timeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), graceMs).unref());
  if ((await Promise.race([exited, timeout])) === 'timeout') {
    for (const c of alive) if (c.proc.exitCode === null) c.proc.kill('SIGKILL');
    await exited;
  }
}

async function stopAll(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    // Keel's processes first (the worker lets running activities finish), Temporal last, so
    // nothing loses its server while shutting down.
    await stopGroup(children.filter((c) => c.name !== 'temporal'), Math.max(config.KEEL_WORKER_SHUTDOWN_GRACE_MS, config.KEEL_API_SHUTDOWN_GRACE_MS) + 5_000);
    await stopGroup(children.filter((c) => c.name === 'temporal'), 10_000);
    console.log('[start] stopped');
    process.exit(code);
  }
  return new Promise<never>(() => undefined);
}

async function main(): Promise<void> {
  process.on('SIGINT', () => void stopAll(0));
  process.on('SIGTERM', () => void stopAll(0));

  // A pull can bring migrations the API and worker need (README: set-up after every pull). Apply
  // what is missing first, so a stack started without set-up does not answer 500s.
  const { applied } = await applyMigrations(config.DATABASE_URL);
  if (applied.length > 0) console.log(`[start] applied ${applied.length} new migration(s): ${applied.join(', ')}`);

  const [temporalHost = '127.0.0.1', temporalPort = '7233'] = config.TEMPORAL_ADDRESS.split(':');
  if (await portOpen(temporalHost, Number(temporalPort))) {
    console.log(`[start] using the Temporal server already at ${config.TEMPORAL_ADDRESS}`);
  } else {
    const dataDir = resolve(PROJECT_ROOT, config.KEEL_DATA_DIR);
    mkdirSync(dataDir, { recursive: true });
    launch('temporal', temporalCliPath(), devServerArgs({
      ip: temporalHost,
      port: Number(temporalPort),
      dbFile: join(dataDir, 'temporal.sqlite'),
      uiPort: config.TEMPORAL_UI_PORT,
      namespace: config.TEMPORAL_NAMESPACE,
      extra: await startWebUiCodec(),
    }));
  }
  await waitForTemporal(config.TEMPORAL_ADDRESS, 60_000);

  if (config.llm.offline) {
    launch('model', process.execPath, tsEntry('src/model-server/main.ts'));
  }
  launch('worker', process.execPath, tsEntry('src/worker/main.ts'));
  launch('api', process.execPath, tsEntry('src/api/main.ts'));

  console.log(
    [
      '',
      'Keel is starting:',
      `  API          http://${config.KEEL_API_HOST}:${config.KEEL_API_PORT}  (try /readyz)`,
      `  Temporal UI  ${config.TEMPORAL_UI_URL}`,
      `  Temporal     ${config.TEMPORAL_ADDRESS}  (namespace ${config.TEMPORAL_NAMESPACE})`,
      config.llm.offline
        ? `  Model        offline stand-in at ${config.llm.baseURL} (set OPENAI_BASE_URL / OPENAI_API_KEY for a real one)`
        : `  Model        ${config.llm.model} at ${config.llm.baseURL}`,
      'Press Ctrl-C to stop everything.',
      '',
    ].join('\n'),
  );
}

main().catch((err: unknown) => {
  const cause = err instanceof Error && err.cause instanceof Error ? ` (${err.cause.message})` : '';
  console.error(`[start] ${err instanceof Error ? err.message : String(err)}${cause}`);
  void stopAll(1);
});
