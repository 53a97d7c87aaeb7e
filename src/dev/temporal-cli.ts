import { existsSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';

/** The Temporal CLI version set-up installs when `temporal` is not already on PATH. */
export const TEMPORAL_CLI_VERSION = '1.9.1';

export const PROJECT_ROOT = resolve(__dirname, '..', '..');

/**
 * Where the Temporal CLI (dev server) lives: TEMPORAL_CLI_PATH, else the copy set-up put in
 * `.tools/`, else `temporal` on PATH.
 */
export function temporalCliPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.TEMPORAL_CLI_PATH) return env.TEMPORAL_CLI_PATH;
  const local = join(PROJECT_ROOT, '.tools', 'temporal', 'bin', 'temporal');
  if (existsSync(local)) return local;
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir, 'temporal');
    if (dir && existsSync(candidate)) return candidate;
  }
  throw new Error('The Temporal CLI was not found. Run `npm run setup` (it installs it into .tools/), or put `temporal` on PATH.');
}

/** `--search-attribute` flags that register Keel's custom search attributes on a dev server. */
export const KEEL_SEARCH_ATTRIBUTE_FLAGS = [
  'KeelTenant=Keyword',
  'KeelRunType=Keyword',
  'KeelStatus=Keyword',
  'KeelModel=Keyword',
].flatMap((a) => ['--search-attribute', a]);

export interface DevServerOptions {
  ip: string;
  port: number;
  /** SQLite file to persist to; unset: in memory. */
  dbFile?: string;
  /** The Web UI's port; unset: no Web UI. */
  uiPort?: number;
  namespace?: string;
  /** Serve the server's Prometheus metrics on this port (the benchmark counts persistence requests); unset: none. */
  metricsPort?: number;
  /** Further flags, e.g. `--ui-codec-endpoint`. */
  extra?: string[];
}

/** `temporal server start-dev` arguments with Keel's search attributes: `npm start`, tests and the benchmark use this one command line. */
export function devServerArgs(opts: DevServerOptions): string[] {
  return [
    'server', 'start-dev',
    '--ip', opts.ip,
    '--port', String(opts.port),
    ...(opts.uiPort === undefined ? ['--headless'] : ['--ui-port', String(opts.uiPort)]),
    ...(opts.dbFile ? ['--db-filename', opts.dbFile] : []),
    ...(opts.namespace ? ['--namespace', opts.namespace] : []),
    ...(opts.metricsPort === undefined ? [] : ['--metrics-port', String(opts.metricsPort)]),
    '--log-level', 'error',
    ...KEEL_SEARCH_ATTRIBUTE_FLAGS,
    ...(opts.extra ?? []),
  ];
}
