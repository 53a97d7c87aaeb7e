import { Connection } from '@temporalio/client';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { KEEL_SEARCH_ATTRIBUTE_FLAGS, temporalCliPath } from '../src/dev/temporal-cli';
import { freePort } from '../test/support/processes';

export interface DevServer {
  address: string;
  pid: number | undefined;
  stop(): Promise<void>;
}

/**
 * The Temporal CLI dev server (in-memory persistence, no UI) as a child process. Spawned here
 * rather than through @temporalio/testing because the CLI prints a banner on its inherited
 * stdout, and stdout is where the benchmark's report goes.
 */
export async function startDevServer(): Promise<DevServer> {
  const port = await freePort();
  const address = `127.0.0.1:${port}`;
  const proc = spawn(
    temporalCliPath(),
    ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(port), '--headless', '--log-level', 'error', ...KEEL_SEARCH_ATTRIBUTE_FLAGS],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  proc.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-4000);
  });
  const exited = once(proc, 'exit');

  const stop = async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };

  const until = Date.now() + 30_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`The Temporal dev server exited with code ${proc.exitCode}: ${stderr}`);
    try {
      const connection = await Connection.connect({ address, connectTimeout: 1000 });
      try {
        // The frontend answers before the namespace exists; workers need the namespace.
        await connection.workflowService.describeNamespace({ namespace: 'default' });
      } finally {
        await connection.close();
      }
      return { address, pid: proc.pid, stop };
    } catch (err) {
      if (Date.now() > until) {
        await stop();
        throw new Error(`The Temporal dev server did not become ready at ${address}: ${stderr}`, { cause: err });
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}
