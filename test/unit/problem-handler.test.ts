import assert from 'node:assert/strict';
import express from 'express';
import pg from 'pg';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { problemHandler } from '../../src/api/problem';
import { Prisma } from '../../src/generated/prisma/client';

/** Serves one route that throws `err`, and returns what a client sees. */
async function answerFor(err: unknown): Promise<{ status: number; type: string; retryAfter: string | null; body: { type: string } }> {
  const app = express();
  app.get('/boom', () => {
    throw err;
  });
  app.use(problemHandler(pino({ level: 'silent' })));
  const server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  try {
    const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/boom`);
    return { status: res.status, type: res.headers.get('content-type') ?? '', retryAfter: res.headers.get('retry-after'), body: (await res.json()) as { type: string } };
  } finally {
    server.close();
  }
}

describe('problem handler', () => {
  for (const code of ['P2028', 'P2024']) {
    it(`answers a busy database (${code}) with a retryable 503, not a 500`, async () => {
      const err = new Prisma.PrismaClientKnownRequestError('Transaction API error: Unable to start a transaction in the given time.', { code, clientVersion: 'test' });
      const res = await answerFor(err);
      assert.equal(res.status, 503);
      assert.match(res.type, /^application\/problem\+json/);
      assert.equal(res.body.type, 'https://keel.dev/problems/service-unavailable');
      assert.equal(res.retryAfter, '5');
    });
  }

  it('answers a statement sent through pg directly to an unreachable database with a retryable 503', async () => {
    // The API's hot statements (the key lookup, the tenant read, the quota) go through pg (src/db/raw.ts).
    const pool = new pg.Pool({ connectionString: 'postgresql://postgres@127.0.0.1:1/keel' });
    const err: unknown = await pool.query('SELECT 1').then(() => undefined, (e: unknown) => e);
    await pool.end();
    assert.ok(err instanceof Error, 'the query failed');
    const res = await answerFor(err);
    assert.equal(res.status, 503);
    assert.equal(res.body.type, 'https://keel.dev/problems/service-unavailable');
    for (const e of [Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' }), new Error('Connection terminated unexpectedly')]) {
      assert.equal((await answerFor(e)).status, 503, e.message);
    }
    // A constraint violation is a bug, not weather.
    assert.equal((await answerFor(Object.assign(new Error('duplicate key value'), { code: '23505' }))).status, 500);
  });

  it('answers an unknown error with a generic 500', async () => {
    const res = await answerFor(new Prisma.PrismaClientKnownRequestError('Unique constraint failed', { code: 'P2002', clientVersion: 'test' }));
    assert.equal(res.status, 500);
    assert.equal(res.body.type, 'https://keel.dev/problems/internal-error');
  });
});
