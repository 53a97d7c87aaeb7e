/**
 * Child processes for tests and the benchmark: Keel's own entry points (`npm run start:api`,
 * `start:worker`, `npm start`) and the Temporal CLI, each with only the environment it is given,
 * its output kept for assertions and failure messages, and a kill that waits for the exit.
 * test/support/stack.ts builds environments from these; tests rarely need them directly.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../src/dev/temporal-cli';

export interface KeelProcess {
  name: string;
  proc: ChildProcess;
  pid: number;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Sends the signal (if the process still runs) and waits for the exit. */
  kill(signal: NodeJS.Signals): Promise<void>;
}

/** Keel's entry points, run as `npm run …` runs them (without the .env file: tests pass every variable). */
export type KeelEntry = 'src/api/main.ts' | 'src/worker/main.ts' | 'scripts/start.ts';

export function spawnProcess(name: string, command: string, args: string[], env: Record<string, string>): KeelProcess {
  // Only what the process needs: nothing from the test runner's own environment leaks in.
  const proc = spawn(command, args, {
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
  return {
    name,
    proc,
    pid: proc.pid,
    output: () => out,
    exited,
    async kill(signal) {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      await exited;
    },
  };
}

export function spawnKeel(name: string, entry: KeelEntry, env: Record<string, string>): KeelProcess {
  return spawnProcess(name, process.execPath, ['--import', 'tsx', join(PROJECT_ROOT, entry)], env);
}

/** Waits until the output matches; fails at once, with the output, if the process dies. */
export async function waitForOutput(p: KeelProcess, pattern: RegExp, timeoutMs = 60_000): Promise<RegExpMatchArray> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const found = p.output().match(pattern);
    if (found) return found;
    if (p.proc.exitCode !== null || p.proc.signalCode !== null) throw new Error(`${p.name} exited before printing ${pattern}:\n${p.output().slice(-3000)}`);
    if (Date.now() > until) throw new Error(`Timed out waiting for ${p.name} to print ${pattern}:\n${p.output().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
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

/** Stops the processes with the signal (SIGKILL unless told) and waits for all of them. */
export async function stopAll(processes: KeelProcess[], signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  await Promise.all(processes.map((p) => p.kill(signal)));
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
