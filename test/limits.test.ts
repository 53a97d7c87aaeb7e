import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type Express } from 'express';
import { Redis } from 'ioredis';
import pino from 'pino';
import { createApp } from '../src/api/app';
import { problemHandler } from '../src/api/problem';
import { createPrisma } from '../src/db/client';
import { idempotentRunId } from '../src/api/idempotency';
import type { Config } from '../src/config';
import { withPgClient } from '../src/db/testing';
import { eventually, http, startStack, type HttpResult, type TestStack } from './support/stack';

function assertProblem(res: HttpResult<unknown>, status: number, slug: string): void {
  assert.equal(res.status, status, JSON.stringify(res.body));
  assert.match(res.headers.get('content-type') ?? '', /^application\/problem\+json/);
  assert.equal((res.body as { type: string }).type, `https://keel.dev/problems/${slug}`);
}

async function listen(app: Express): Promise<{ baseUrl: string; close(): Promise<void> }> {
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  return {
    baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

const RATE = 12;
const QUOTA = 3;

describe('limits: rate, in-flight quota, timeouts, headers', function () {
  this.timeout(120_000);
  let stack: TestStack;

  before(async () => {
    stack = await startStack({
      label: 'limits',
      workers: false,
      env: { KEEL_RATE_LIMIT_PER_MINUTE: String(RATE), KEEL_MAX_INFLIGHT_RUNS_PER_TENANT: String(QUOTA), KEEL_CORS_ORIGINS: 'https://app.example.com' },
    });
  });
  after(async () => {
    await stack?.stop();
  });

  const secondApi = (config: Config, redis: Redis) =>
    listen(createApp({ db: stack.db, temporal: stack.temporal, config, store: stack.store, log: pino({ level: 'silent' }), redis }));

  it('rate-limits each tenant across every API process, with 429 and Retry-After', async () => {
    const redis = new Redis(stack.config.REDIS_URL, { enableOfflineQueue: false });
    const other = await secondApi(stack.config, redis);
    try {
      const r = await stack.addTenant('rate-r');
      const apis = [stack.baseUrl, other.baseUrl];
      for (let i = 0; i < RATE; i++) {
        const res = await http({ baseUrl: apis[i % 2]!, apiKey: r.apiKey }, 'GET', '/v1/runs');
        assert.equal(res.status, 200, `request ${i + 1}`);
      }
      for (const baseUrl of apis) {
        const limited = await http({ baseUrl, apiKey: r.apiKey }, 'GET', '/v1/runs');
        assertProblem(limited, 429, 'rate-limited');
        const retryAfter = Number(limited.headers.get('retry-after'));
        assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60, `Retry-After ${retryAfter}`);
      }
      // Another tenant has its own budget.
      const s = await stack.addTenant('rate-s');
      assert.equal((await http({ baseUrl: other.baseUrl, apiKey: s.apiKey }, 'GET', '/v1/runs')).status, 200);
    } finally {
      await other.close();
      redis.disconnect();
    }
  });

  it('falls back to a per-process limit when Redis is unreachable', async () => {
    // Port 1 on loopback: nothing listens, so every Redis command fails at once.
    const deadRedis = new Redis('redis://127.0.0.1:1', { enableOfflineQueue: false, lazyConnect: true, retryStrategy: () => null });
    deadRedis.on('error', () => undefined);
    const api = await secondApi({ ...stack.config, KEEL_REDIS_PREFIX: 'keel-test:dead:' }, deadRedis);
    try {
      const t = await stack.addTenant('rate-no-redis');
      for (let i = 0; i < RATE; i++) assert.equal((await http({ baseUrl: api.baseUrl, apiKey: t.apiKey }, 'GET', '/v1/runs')).status, 200);
      assertProblem(await http({ baseUrl: api.baseUrl, apiKey: t.apiKey }, 'GET', '/v1/runs'), 429, 'rate-limited');
    } finally {
      await api.close();
      deadRedis.disconnect();
    }
  });

  it('caps runs in flight per tenant, exactly, under concurrent requests', async () => {
    const q = await stack.addTenant('quota-q');
    const asQ = { baseUrl: stack.baseUrl, apiKey: q.apiKey };
    const results = await withPgClient(stack.config.DATABASE_URL, async (barrier) => {
      // A barrier that makes the requests overlap whatever the machine's speed: while this
      // transaction holds the run table in EXCLUSIVE mode, reads go on but no run can be inserted.
      // Every request gets as far as its insert (or a lock in front of it) and waits there; only
      // when all of them are seen waiting in Postgres is the table released.
      await barrier.query('BEGIN');
      await barrier.query('LOCK TABLE run IN EXCLUSIVE MODE');
      const requests = Promise.all(
        Array.from({ length: QUOTA * 2 }, (_, i) => http(asQ, 'POST', '/v1/runs', { body: { type: 'answer', input: { question: `quota ${i}` } } })),
      );
      // (awaited below; this only keeps a failure of the wait from leaving it unhandled)
      requests.catch(() => undefined);
      try {
        await eventually(async () => {
          // Inside a transaction Postgres serves statistics from one snapshot unless told to drop it.
          await barrier.query('SELECT pg_stat_clear_snapshot()');
          const { rows } = await barrier.query<{ n: number }>(
            "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()",
          );
          return rows[0]?.n === QUOTA * 2 ? true : undefined;
        }, `all ${QUOTA * 2} requests waiting in Postgres at once`, 60_000);
      } finally {
        await barrier.query('COMMIT');
      }
      return requests;
    });
    const statuses = results.map((r) => r.status).sort();
    assert.deepEqual(statuses, [...Array<number>(QUOTA).fill(202), ...Array<number>(QUOTA).fill(429)]);
    for (const r of results.filter((x) => x.status === 429)) {
      assertProblem(r, 429, 'concurrency-limit');
      assert.ok(r.headers.get('retry-after'));
    }
    assert.equal(await stack.db.run.count({ where: { tenantId: q.tenantId } }), QUOTA);
    // Visibility lags behind starts (more so on a busy machine): wait until the accepted ones show.
    // Every request had its answer before this, so a workflow a refused one started is as old as them.
    const workflows = await eventually(async () => {
      const c = await stack.temporal.workflow.count(`KeelTenant = "${q.tenantId}"`);
      return c.count >= QUOTA ? c : undefined;
    }, 'the accepted runs to be visible');
    assert.equal(workflows.count, QUOTA, 'a refused request started a workflow');

    // Another tenant is not affected; a finished run frees a slot.
    assert.equal((await http(stack, 'POST', '/v1/runs', { body: { type: 'answer', input: { question: 'tenant A' } } })).status, 202);
    const first = await stack.db.run.findFirstOrThrow({ where: { tenantId: q.tenantId } });
    await stack.db.run.update({ where: { id: first.id }, data: { status: 'completed' } });
    assert.equal((await http(asQ, 'POST', '/v1/runs', { body: { type: 'answer', input: { question: 'one more' } } })).status, 202);
  });

  it('counts only the runs in flight: a tenant with thousands of finished runs is not scanned on every start', async () => {
    const t = await stack.addTenant('quota-history');
    const asT = { baseUrl: stack.baseUrl, apiKey: t.apiKey };
    const FINISHED = 3_000;
    /** Run rows scans have read so far (the table's sequential scans and every index of it), once the backends have published their counts. */
    const rowsRead = (client: Awaited<Parameters<Parameters<typeof withPgClient>[1]>[0]>) => async () => {
      await client.query('SELECT pg_stat_clear_snapshot()');
      const { rows } = await client.query<{ n: string }>(
        "SELECT (SELECT coalesce(seq_tup_read, 0) FROM pg_stat_user_tables WHERE relname = 'run') + (SELECT coalesce(sum(idx_tup_read), 0) FROM pg_stat_user_indexes WHERE relname = 'run') AS n",
      );
      return Number(rows[0]?.n);
    };
    const read = await withPgClient(stack.config.DATABASE_URL, async (client) => {
      await client.query(
        `INSERT INTO run (id, tenant_id, type, status, input, input_hash, options, updated_at, completed_at)
         SELECT 'finished-' || g, $1::uuid, 'answer', (ARRAY['completed', 'failed', 'cancelled', 'blocked'])[1 + g % 4], '{}', 'h', '{}', now(), now()
         FROM generate_series(1, ${FINISHED}) g`,
        [t.tenantId],
      );
      // Two runs in flight, one of them waiting for an operator: both hold a slot.
      await client.query(
        `INSERT INTO run (id, tenant_id, type, status, input, input_hash, options, updated_at)
         VALUES ('in-flight-1', $1::uuid, 'answer', 'running', '{}', 'h', '{}', now()), ('in-flight-2', $1::uuid, 'answer', 'needs_attention', '{}', 'h', '{}', now())`,
        [t.tenantId],
      );
      const count = rowsRead(client);
      // Backends publish their counts when idle, up to seconds later: wait until the count holds still.
      let before = await count();
      await eventually(async () => {
        await new Promise((r) => setTimeout(r, 1_500));
        const now = await count();
        const still = now === before;
        before = now;
        return still ? true : undefined;
      }, 'the run table statistics to settle', 60_000);
      const accepted = await http(asT, 'POST', '/v1/runs', { body: { type: 'answer', input: { question: 'with a long history' } } });
      assert.equal(accepted.status, 202, JSON.stringify(accepted.body));
      const after = await eventually(async () => {
        const now = await count();
        return now > before ? now : undefined;
      }, 'the start to show in the statistics', 60_000);
      return after - before;
    });
    // The check reads the id's index entry and the two runs in flight, not the 3,000 finished ones.
    assert.ok(read < 100, `the quota check read ${read} run rows`);
    // The quota (3) is now full: the two in flight and the one just started.
    assertProblem(await http(asT, 'POST', '/v1/runs', { body: { type: 'answer', input: { question: 'one too many' } } }), 429, 'concurrency-limit');
  });

  it('answers an Idempotency-Key replay at the quota with the existing run, not a 429', async () => {
    const t = await stack.addTenant('quota-idem');
    const asT = { baseUrl: stack.baseUrl, apiKey: t.apiKey };
    const post = (key: string) => http<{ id: string }>(asT, 'POST', '/v1/runs', { body: { type: 'answer', input: { question: `idem ${key}` } }, headers: { 'idempotency-key': key } });
    const first = await post('k0');
    assert.equal(first.status, 202);
    for (let i = 1; i < QUOTA; i++) assert.equal((await post(`k${i}`)).status, 202);
    const replay = await post('k0');
    assert.equal(replay.status, 200, JSON.stringify(replay.body));
    assert.equal(replay.body.id, first.body.id);
    assertProblem(await post('k-new'), 429, 'concurrency-limit');
    assert.equal(await stack.db.run.count({ where: { tenantId: t.tenantId } }), QUOTA);
  });

  it('sends security headers and answers CORS only for allowed origins', async () => {
    const res = await fetch(`${stack.baseUrl}/healthz`);
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(res.headers.get('x-frame-options'), 'SAMEORIGIN');
    assert.match(res.headers.get('content-security-policy') ?? '', /default-src 'self'/);
    assert.equal(res.headers.get('x-powered-by'), null);

    const preflight = (origin: string) =>
      fetch(`${stack.baseUrl}/v1/runs`, {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' },
      });
    const allowed = await preflight('https://app.example.com');
    assert.equal(allowed.status, 204);
    assert.equal(allowed.headers.get('access-control-allow-origin'), 'https://app.example.com');
    const denied = await preflight('https://elsewhere.example.com');
    assert.equal(denied.headers.get('access-control-allow-origin'), null);
    const actual = await http(stack, 'GET', '/v1/runs', { headers: { origin: 'https://app.example.com' } });
    assert.equal(actual.headers.get('access-control-allow-origin'), 'https://app.example.com');
    assert.match(actual.headers.get('access-control-expose-headers') ?? '', /Retry-After/);
  });

  it('a request past its deadline answers 503 request-timeout and starts nothing', async () => {
    // Deadlines sit on the calls themselves: the Temporal start (client.withDeadline) and Postgres
    // statements (statement_timeout). 1 ms is too little for any start.
    const redis = new Redis(stack.config.REDIS_URL);
    const config: Config = { ...stack.config, KEEL_REQUEST_TIMEOUT_MS: 1 };
    const api = await secondApi(config, redis);
    try {
      const key = `too-slow-${Date.now()}`;
      const res = await http({ baseUrl: api.baseUrl, apiKey: stack.apiKey }, 'POST', '/v1/runs', {
        body: { type: 'answer', input: { question: 'Too slow?' } }, headers: { 'idempotency-key': key },
      });
      assertProblem(res, 503, 'request-timeout');
      assert.equal(res.headers.get('retry-after'), '5');
      const id = idempotentRunId(stack.tenantId, key);
      assert.equal(await stack.db.run.count({ where: { id } }), 0);
      // A start that reached the server past its deadline is terminated; otherwise there is none.
      const status = await stack.temporal.workflow.getHandle(id).describe().then((d) => d.status.name, () => 'NOT_FOUND');
      assert.ok(status === 'NOT_FOUND' || status === 'TERMINATED', status);
    } finally {
      await api.close();
      redis.disconnect();
    }

    const slowDb = createPrisma(stack.config.DATABASE_URL, { statementTimeoutMs: 50 });
    const app = express();
    app.get('/slow', async (_req, res) => {
      await slowDb.$queryRaw`SELECT pg_sleep(1)`;
      res.json({ ok: true });
    });
    app.use(problemHandler(pino({ level: 'silent' }), 50));
    const slow = await listen(app);
    try {
      const res = await fetch(`${slow.baseUrl}/slow`);
      assert.equal(res.status, 503);
      assert.equal(((await res.json()) as { type: string }).type, 'https://keel.dev/problems/request-timeout');
    } finally {
      await slow.close();
      await slowDb.$disconnect();
    }
  });
});
