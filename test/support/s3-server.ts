/**
 * A real S3-compatible server on loopback for tests: moto's standalone server (PyPI
 * `moto[server]`, installed into the project's Python environment .tools/venv by set-up). The S3 object store is tested
 * against its HTTP API through the real @aws-sdk/client-s3, not against a mock of the SDK.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { freePort } from './processes';
import { eventually } from './stack';

const PYTHON = path.resolve(__dirname, '../../.tools/venv/bin/python');

export interface S3Server {
  endpoint: string;
  stop(): Promise<void>;
}

export async function startS3Server(): Promise<S3Server> {
  if (!existsSync(PYTHON)) {
    throw new Error(`the project's Python environment (${PYTHON}) is missing; run npm run setup`);
  }
  const port = await freePort();
  const child: ChildProcess = spawn(PYTHON, ['-m', 'moto.server', '-H', '127.0.0.1', '-p', String(port)], {
    env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const endpoint = `http://127.0.0.1:${port}`;
  await eventually(async () => {
    if (child.exitCode !== null) throw new Error(`moto exited: ${stderr}`);
    const res = await fetch(`${endpoint}/moto-api/`).catch(() => undefined);
    return res ? true : undefined;
  }, 'the S3 server to listen', 30_000);
  return {
    endpoint,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}
