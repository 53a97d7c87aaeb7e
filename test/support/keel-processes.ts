/**
 * Keel's API and worker as real child processes (`node --import tsx src/.../main.ts`), for tests
 * that need process boundaries: several copies at once, SIGKILL, SIGTERM. Their stdout and
 * stderr are kept so tests can read the JSON logs.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../src/dev/temporal-cli';
import type { TestStack } from './stack';

export interface KeelProcess {
  name: string;
  proc: ChildProcess;
  pid: number;
  /** Everything the process wrote so far. */
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function spawnKeel(name: string, entry: 'src/api/main.ts' | 'src/worker/main.ts', env: Record<string, string>): KeelProcess {
  // Only what the process needs: nothing from the test runner's own environment leaks in.
  const proc = spawn(process.execPath, ['--import', 'tsx', join(PROJECT_ROOT, entry)], {
    cwd: PROJECT_ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  proc.stderr.setEncoding('utf8').on('data', (c: string) => (out += c));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.once('exit', (code, signal) => resolve({ code, signal })),
  );
  if (proc.pid === undefined) throw new Error(`${name} did not start`);
  return { name, proc, pid: proc.pid, output: () => out, exited };
}

/** Waits for a JSON log line with this `msg`; fails at once, with the output, if the process dies. */
export async function waitForLog(p: KeelProcess, msg: string, timeoutMs = 60_000): Promise<Record<string, unknown>> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const found = logLines(p).find((entry) => entry.msg === msg);
    if (found) return found;
    if (p.proc.exitCode !== null || p.proc.signalCode !== null) throw new Error(`${p.name} exited before logging "${msg}":\n${p.output().slice(-3000)}`);
    if (Date.now() > until) throw new Error(`Timed out waiting for ${p.name} to log "${msg}":\n${p.output().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export function logLines(p: KeelProcess): Array<Record<string, unknown>> {
  return p
    .output()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

export async function stopAll(processes: KeelProcess[]): Promise<void> {
  for (const p of processes) if (p.proc.exitCode === null && p.proc.signalCode === null) p.proc.kill('SIGKILL');
  await Promise.all(processes.map((p) => p.exited));
}

/** The test worker (test/support/worker-process.ts) as a separate OS process, configured like the stack, so a test can SIGKILL it. */
export function startWorkerProcess(stack: Pick<TestStack, 'config'>): ChildProcess {
  const c = stack.config;
  return spawn(process.execPath, ['--import', 'tsx', join(PROJECT_ROOT, 'test/support/worker-process.ts')], {
    env: {
      PATH: process.env.PATH,
      NODE_ENV: 'test',
      LOG_LEVEL: 'silent',
      DATABASE_URL: c.DATABASE_URL,
      TEMPORAL_ADDRESS: c.TEMPORAL_ADDRESS,
      OPENAI_BASE_URL: c.llm.baseURL,
      OPENAI_API_KEY: c.llm.apiKey,
      KEEL_MODEL: c.llm.model,
      KEEL_EMBEDDING_MODEL: c.llm.embeddingModel ?? '',
      KEEL_MODEL_TIMEOUT_MS: String(c.KEEL_MODEL_TIMEOUT_MS),
      KEEL_DATA_DIR: c.KEEL_DATA_DIR,
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}
