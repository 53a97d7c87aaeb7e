import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { KEEL_SEARCH_ATTRIBUTE_FLAGS, PROJECT_ROOT, temporalCliPath } from '../../src/dev/temporal-cli';

/** Real processes for fault tests: a worker or a Temporal dev server the test can kill. */
export interface ChildHandle {
  child: ChildProcess;
  /** What the process wrote to stderr, for the failure message when it misbehaves. */
  stderr(): string;
  kill(signal: NodeJS.Signals): Promise<void>;
}

function track(child: ChildProcess): ChildHandle {
  let err = '';
  child.stderr?.on('data', (c: Buffer) => {
    err = (err + c.toString('utf8')).slice(-20_000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    child,
    stderr: () => err,
    async kill(signal) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** `npm run start:worker`, as a child process with its own environment. */
export function spawnWorker(env: Record<string, string>): ChildHandle {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/worker/main.ts'], {
    cwd: PROJECT_ROOT,
    // Metrics on an ephemeral port and Temporal's exporter off: parallel test workers never collide on ports.
    env: { PATH: process.env.PATH ?? '', NODE_ENV: 'test', LOG_LEVEL: 'error', KEEL_WORKER_METRICS_PORT: '0', KEEL_TEMPORAL_METRICS_PORT: '0', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  return track(child);
}

/** A Temporal dev server persisting to a SQLite file, so it can be stopped and started again. */
export function spawnTemporal(opts: { port: number; dbFile: string }): ChildHandle {
  const child = spawn(
    temporalCliPath(),
    [
      'server', 'start-dev', '--headless', '--ip', '127.0.0.1', '--port', String(opts.port),
      '--db-filename', opts.dbFile, '--log-level', 'error', ...KEEL_SEARCH_ATTRIBUTE_FLAGS,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  return track(child);
}

/** A throw-away redis-server on loopback (no persistence), for tests that stop and start Redis. */
export function spawnRedis(port: number): ChildHandle {
  const child = spawn('redis-server', ['--bind', '127.0.0.1', '--port', String(port), '--save', '', '--appendonly', 'no'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  return track(child);
}
