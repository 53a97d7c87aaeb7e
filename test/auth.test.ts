import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { Redis } from 'ioredis';
import pino from 'pino';
import { createApp } from '../src/api/app';
import { authenticate } from '../src/api/auth';
import { startsRun } from '../src/api/routes/runs';
import { hashApiKey } from '../src/auth/api-keys';
import { createApiKey } from '../src/auth/key-admin';
import { KeysCliError, runKeysCli } from '../src/auth/keys-cli';
import { SCOPES, type Scope } from '../src/auth/scopes';
import { GuardrailPolicy } from '../src/guardrails/policy';
import { savePolicy } from '../src/guardrails/store';
import { readTenantRunContext } from '../src/runs/tenant-context';
import { http, startStack, type HttpResult, type TestStack } from './support/stack';
import type { OpenApiDoc } from './support/openapi-check';

interface Problem {
  type: string;
  status: number;
  detail: string;
}

function assertProblem(res: HttpResult<unknown>, status: number, slug: string): void {
  assert.equal(res.status, status, JSON.stringify(res.body));
  assert.match(res.headers.get('content-type') ?? '', /^application\/problem\+json/);
  assert.equal((res.body as Problem).type, `https://keel.dev/problems/${slug}`);
}

/** The secret part of `keel_<prefix>_<secret>` (the secret itself may contain `_`). */
const secretOf = (key: string) => key.replace(/^keel_[a-z0-9]{12}_/, '');

/** Tenant A's resources that tenant B probes. */
interface TenantAFixture {
  runId: string;
  evalId: string;
  keyId: string;
  keyPrefix: string;
  docId: string;
  schemaName: string;
}

const schemaOfA = { type: 'object', properties: { a: { type: 'string' } } };

/**
 * One row per tenant-scoped operation. `hidden` rows address one of A's resources and must answer
 * B with 404 (never 403: no enumeration); `excludes` rows list or search and must not show it;
 * `check` rows assert something else about B's answer (e.g. that it is not a hit in A's cache).
 * A route added later plugs in with one row; the test below fails for a /v1 operation with no row.
 */
type MatrixRow = {
  operation: string;
  path: (a: TenantAFixture) => string;
  body?: (a: TenantAFixture) => unknown;
} & (
  | { expect: 'hidden' }
  | { expect: 'excludes'; id: (a: TenantAFixture) => string }
  | { expect: 'check'; check: (res: HttpResult<unknown>, a: TenantAFixture, stack: TestStack) => Promise<void> }
);

const crossTenantMatrix: MatrixRow[] = [
  { operation: 'GET /v1/runs/{id}', path: (a) => `/v1/runs/${a.runId}`, expect: 'hidden' },
  { operation: 'GET /v1/runs', path: () => '/v1/runs?limit=100', expect: 'excludes', id: (a) => a.runId },
  { operation: 'POST /v1/runs/{id}/cancel', path: (a) => `/v1/runs/${a.runId}/cancel`, body: () => ({ reason: 'probe' }), expect: 'hidden' },
  { operation: 'POST /v1/runs/{id}/terminate', path: (a) => `/v1/runs/${a.runId}/terminate`, body: () => ({ reason: 'probe' }), expect: 'hidden' },
  { operation: 'POST /v1/runs/{id}/retry', path: (a) => `/v1/runs/${a.runId}/retry`, body: () => ({ reason: 'probe' }), expect: 'hidden' },
  { operation: 'POST /v1/runs/{id}/resume', path: (a) => `/v1/runs/${a.runId}/resume`, body: () => ({ action: 'abort', reason: 'probe' }), expect: 'hidden' },
  { operation: 'GET /v1/runs/{id}/audit', path: (a) => `/v1/runs/${a.runId}/audit`, expect: 'hidden' },
  { operation: 'GET /v1/runs/{id}/trace', path: (a) => `/v1/runs/${a.runId}/trace`, expect: 'hidden' },
  { operation: 'GET /v1/metrics/drift', path: () => '/v1/metrics/drift', expect: 'check', check: async (res) => {
    assert.equal(res.status, 200);
    assert.deepEqual((res.body as { versions: unknown[] }).versions, [], "tenant B sees drift series of tenant A's runs");
  } },
  { operation: 'GET /v1/evals/{id}', path: (a) => `/v1/evals/${a.evalId}`, expect: 'hidden' },
  { operation: 'GET /v1/evals', path: () => '/v1/evals', expect: 'excludes', id: (a) => a.evalId },
  { operation: 'GET /v1/release-policy', path: () => '/v1/release-policy', expect: 'excludes', id: () => releaseReasonOfA },
  { operation: 'GET /v1/admin/keys', path: () => '/v1/admin/keys', expect: 'excludes', id: (a) => a.keyId },
  { operation: 'DELETE /v1/admin/keys/{id}', path: (a) => `/v1/admin/keys/${a.keyId}`, expect: 'hidden' },
  { operation: 'DELETE /v1/admin/keys/{id}', path: (a) => `/v1/admin/keys/${a.keyPrefix}`, expect: 'hidden' },
  { operation: 'GET /v1/documents/{id}', path: (a) => `/v1/documents/${a.docId}`, expect: 'hidden' },
  { operation: 'GET /v1/documents', path: () => '/v1/documents?limit=100', expect: 'excludes', id: (a) => a.docId },
  { operation: 'GET /v1/documents/{id}/content', path: (a) => `/v1/documents/${a.docId}/content`, expect: 'hidden' },
  { operation: 'DELETE /v1/documents/{id}', path: (a) => `/v1/documents/${a.docId}`, expect: 'hidden' },
  { operation: 'GET /v1/schemas/{name}', path: (a) => `/v1/schemas/${a.schemaName}`, expect: 'hidden' },
  // After the GET row: B's policy change is B's own; A's policy stays as A set it.
  {
    operation: 'PUT /v1/release-policy',
    path: () => '/v1/release-policy',
    body: () => ({ candidate: {}, percent: 0, reason: 'tenant B policy' }),
    expect: 'check',
    check: async (res, _a, stack) => {
      assert.equal(res.status, 200);
      const mine = await http<{ current: { reason: string; percent: number }; history: unknown[] }>(stack, 'GET', '/v1/release-policy');
      assert.equal(mine.body.current.reason, releaseReasonOfA, "tenant B changed tenant A's release policy");
      assert.equal(mine.body.history.length, 1);
    },
  },
  // After the GET row: names are per tenant, so B registering A's name makes B its own schema.
  {
    operation: 'PUT /v1/schemas/{name}',
    path: (a) => `/v1/schemas/${a.schemaName}`,
    body: () => ({ schema: { type: 'object', properties: { b: { type: 'number' } } } }),
    expect: 'check',
    check: async (res, a, stack) => {
      assert.equal(res.status, 200);
      const mine = await http<{ schema: unknown }>(stack, 'GET', `/v1/schemas/${a.schemaName}`);
      assert.deepEqual(mine.body.schema, schemaOfA, "tenant B replaced tenant A's schema");
    },
  },
  {
    operation: 'GET /v1/admin/cache/settings',
    path: () => '/v1/admin/cache/settings',
    expect: 'check',
    check: async (res) => assert.equal(res.status, 200),
  },
  {
    operation: 'PUT /v1/admin/cache/settings',
    path: () => '/v1/admin/cache/settings',
    body: () => ({ enabled: false, ttlSeconds: 60 }),
    expect: 'check',
    check: async (res, _a, stack) => {
      assert.equal(res.status, 200);
      const mine = await http<{ enabled: boolean; ttlSeconds: number | null }>(stack, 'GET', '/v1/admin/cache/settings');
      assert.deepEqual([mine.body.enabled, mine.body.ttlSeconds], [true, null], "tenant B changed tenant A's cache settings");
    },
  },
  {
    operation: 'DELETE /v1/admin/cache',
    path: () => '/v1/admin/cache',
    expect: 'check',
    check: async (res, _a, stack) => {
      assert.equal(res.status, 200);
      const mine = await stack.db.tenant.findUniqueOrThrow({ where: { id: stack.tenantId }, select: { cacheEpoch: true } });
      assert.equal(mine.cacheEpoch, 0, "tenant B purged tenant A's cache");
    },
  },
  {
    operation: 'GET /v1/guardrails/policy',
    path: () => '/v1/guardrails/policy',
    expect: 'check',
    check: async (res) => {
      assert.equal(res.status, 200);
      assert.equal((res.body as { version: number | null }).version, null, "tenant B sees tenant A's policy");
    },
  },
  {
    operation: 'PUT /v1/guardrails/policy',
    path: () => '/v1/guardrails/policy',
    body: () => ({ output: { bannedPhrases: ['tenant b phrase'] } }),
    expect: 'check',
    check: async (res, _a, stack) => {
      assert.equal(res.status, 201);
      const mine = await http<{ version: number; policy: { output: { bannedPhrases: string[] } } }>(stack, 'GET', '/v1/guardrails/policy');
      assert.equal(mine.body.version, 1);
      assert.deepEqual(mine.body.policy.output.bannedPhrases, ['tenant a phrase'], "tenant B changed tenant A's policy");
    },
  },
];

const releaseReasonOfA = 'canary of tenant A only';

/** Operations that only create in the caller's own tenant (or touch nothing stored): nothing of another tenant to reach. */
const createOnly = new Set(['POST /v1/runs', 'POST /v1/admin/keys', 'POST /v1/documents', 'POST /v1/evals', 'POST /v1/guardrails/check']);

describe('auth: scopes, keys and tenant isolation', function () {
  this.timeout(120_000);
  let stack: TestStack;
  let doc: OpenApiDoc;
  let adminKey: string;
  let fixture: TenantAFixture;
  let tenantB: { tenantId: string; apiKey: string };

  const as = (apiKey: string | null) => ({ baseUrl: stack.baseUrl, apiKey: apiKey as string });

  before(async () => {
    stack = await startStack({ label: 'auth', workers: false });
    doc = (await (await fetch(`${stack.baseUrl}/openapi.json`)).json()) as OpenApiDoc;
    adminKey = (await createApiKey(stack.db, stack.tenantId, 'tenant A admin', ['admin'])).key;
    const run = await http<{ id: string }>(stack, 'POST', '/v1/runs', { body: { type: 'answer', input: { question: 'A only' } } });
    assert.equal(run.status, 202);
    const key = await createApiKey(stack.db, stack.tenantId, 'tenant A reader', ['runs:read']);
    const form = new FormData();
    form.append('file', new Blob(['Only tenant A may read this.'], { type: 'text/plain' }), 'a-only.txt');
    const upload = await http<{ id: string }>(stack, 'POST', '/v1/documents', { form });
    assert.equal(upload.status, 202, JSON.stringify(upload.body));
    const schema = await http(stack, 'PUT', '/v1/schemas/a-only', { body: { schema: schemaOfA } });
    assert.equal(schema.status, 200);
    const policy = await http(stack, 'PUT', '/v1/guardrails/policy', { body: { output: { bannedPhrases: ['tenant a phrase'] } } });
    assert.equal(policy.status, 201, JSON.stringify(policy.body));
    const release = await http(stack, 'PUT', '/v1/release-policy', { body: { candidate: { model: 'gpt-4o-mini' }, percent: 10, reason: releaseReasonOfA } });
    assert.equal(release.status, 200);
    const evaluation = await http<{ id: string }>(stack, 'POST', '/v1/evals', {
      body: { name: 'A only', dataset: 'a.jsonl', datasetHash: 'a'.repeat(64), cases: [{ caseId: 'c1', runId: run.body.id, status: 'queued', passed: false, scores: {}, latencyMs: null, costUsd: null }] },
    });
    assert.equal(evaluation.status, 201, JSON.stringify(evaluation.body));
    fixture = { runId: run.body.id, evalId: evaluation.body.id, keyId: key.id, keyPrefix: key.prefix, docId: upload.body.id, schemaName: 'a-only' };
    tenantB = await stack.addTenant('tenant-b', [...SCOPES]);
  });
  after(async () => {
    await stack?.stop();
  });

  describe('tenant isolation matrix', () => {
    for (const row of crossTenantMatrix) {
      it(`${row.operation} (${row.path({ runId: ':run', evalId: ':eval', keyId: ':key', keyPrefix: ':prefix', docId: ':doc', schemaName: ':schema' })}) with another tenant's key → ${{ hidden: '404', excludes: 'not listed', check: 'checked' }[row.expect]}`, async () => {
        const [method] = row.operation.split(' ');
        const res = await http(as(tenantB.apiKey), method!, row.path(fixture), row.body ? { body: row.body(fixture) } : {});
        if (row.expect === 'hidden') assertProblem(res, 404, 'not-found');
        else if (row.expect === 'excludes') {
          assert.equal(res.status, 200);
          assert.ok(!JSON.stringify(res.body).includes(row.id(fixture)), `tenant B sees ${row.id(fixture)}`);
        } else await row.check(res, fixture, stack);
      });
    }

    it("leaves tenant A's resources as they were", async () => {
      const run = await http<{ id: string; status: string }>(stack, 'GET', `/v1/runs/${fixture.runId}`);
      assert.equal(run.status, 200);
      assert.equal(run.body.status, 'queued');
      const workflow = await stack.temporal.workflow.getHandle(fixture.runId).describe();
      assert.equal(workflow.status.name, 'RUNNING', "tenant B stopped tenant A's workflow");
      assert.equal(await stack.db.auditEvent.count({ where: { runId: fixture.runId } }), 0, 'tenant B left an audit event');
      const key = await stack.db.apiKey.findUniqueOrThrow({ where: { id: fixture.keyId } });
      assert.equal(key.revokedAt, null, "tenant B revoked tenant A's key");
      const doc = await http<{ id: string }>(stack, 'GET', `/v1/documents/${fixture.docId}`);
      assert.equal(doc.status, 200, "tenant B deleted tenant A's document");
      const content = await http(stack, 'GET', `/v1/documents/${fixture.docId}/content`);
      assert.equal(content.status, 200);
      assert.equal(content.body, 'Only tenant A may read this.', "tenant B deleted tenant A's file");
      const listed = await http<{ data: Array<{ id: string }> }>(stack, 'GET', '/v1/documents');
      assert.deepEqual(listed.body.data.map((d) => d.id), [fixture.docId]);
    });

    it('has a row for every tenant-scoped operation in the OpenAPI document', () => {
      const covered = new Set(crossTenantMatrix.map((r) => r.operation));
      const missing: string[] = [];
      for (const [path, ops] of Object.entries(doc.paths)) {
        if (!path.startsWith('/v1/')) continue;
        for (const method of Object.keys(ops)) {
          const op = `${method.toUpperCase()} ${path}`;
          if (!covered.has(op) && !createOnly.has(op)) missing.push(op);
        }
      }
      assert.deepEqual(missing, [], 'add a crossTenantMatrix row for each');
    });
  });

  describe('keys and scopes', () => {
    it('opens only /healthz, /readyz, /openapi.json, /docs and (with no KEEL_METRICS_TOKEN) /metrics without a key; every other operation answers 401', async () => {
      const open: string[] = [];
      for (const [path, ops] of Object.entries(doc.paths)) {
        for (const method of Object.keys(ops)) {
          const concrete = path.replace(/\{[^}]+\}/g, '0193a0f2-7c1e-7d3a-9b1e-2f4c5d6e7f80');
          const res = await http(as(null), method.toUpperCase(), concrete, method === 'get' || method === 'delete' ? {} : { body: {} });
          if (res.status === 401) assertProblem(res, 401, 'unauthorized');
          else open.push(`${method.toUpperCase()} ${path}`);
        }
      }
      // /metrics is public by design unless KEEL_METRICS_TOKEN is set (README, Observability); the stack sets none.
      assert.equal(stack.config.KEEL_METRICS_TOKEN, undefined);
      assert.deepEqual(open.sort(), ['GET /healthz', 'GET /metrics', 'GET /openapi.json', 'GET /readyz']);
      const docs = await fetch(`${stack.baseUrl}/docs/`);
      assert.equal(docs.status, 200);
    });

    it('answers 403 insufficient-scope to a key that lacks the scope of any operation', async () => {
      const checked: string[] = [];
      const runsBefore = await stack.db.run.count();
      const documentsBefore = await stack.db.document.count();
      for (const [path, ops] of Object.entries(doc.paths)) {
        for (const [method, op] of Object.entries(ops as Record<string, { 'x-keel-scope'?: Scope }>)) {
          const scope = op['x-keel-scope'];
          if (!scope) continue;
          const others = SCOPES.filter((s) => s !== scope);
          const key = (await createApiKey(stack.db, stack.tenantId, `all but ${scope}`, others)).key;
          // Real ids of A's own resources, so a scope check that came too late would show in the counts below.
          const concrete = path.replace(/\{[^}]+\}/g, path.startsWith('/v1/documents/') ? fixture.docId : fixture.runId);
          const res = await http<Problem & { requiredScope: string }>(as(key), method.toUpperCase(), concrete, method === 'post' ? { body: {} } : {});
          assertProblem(res, 403, 'insufficient-scope');
          assert.equal(res.body.requiredScope, scope);
          checked.push(`${method} ${path}`);
        }
      }
      assert.ok(checked.length >= 5, checked.join(', '));
      assert.equal(await stack.db.run.count(), runsBefore, 'a 403 started a run');
      assert.equal(await stack.db.document.count(), documentsBefore, 'a 403 changed the documents');
    });

    it('creates a key through the admin API, shows the secret once and stores only its hash', async () => {
      // An admin-only key cannot hand out scopes it lacks; the stack's key holds them all.
      assertProblem(await http(as(adminKey), 'POST', '/v1/admin/keys', { body: { name: 'ci', scopes: ['runs:read'] } }), 403, 'scope-not-held');
      const created = await http<{ id: string; key: string; prefix: string; scopes: string[] }>(as(stack.apiKey), 'POST', '/v1/admin/keys', {
        body: { name: 'ci', scopes: ['runs:read'] },
      });
      assert.equal(created.status, 201);
      assert.match(created.body.key, /^keel_[a-z0-9]{12}_[A-Za-z0-9_-]{32}$/);
      assert.ok(created.body.key.startsWith(`keel_${created.body.prefix}_`));
      const row = await stack.db.apiKey.findUniqueOrThrow({ where: { id: created.body.id } });
      assert.equal(row.tenantId, stack.tenantId);
      assert.equal(row.hash, hashApiKey(created.body.key));
      assert.ok(!JSON.stringify(row).includes(secretOf(created.body.key)), 'the secret is stored');

      const list = await http<{ data: Array<{ id: string }> }>(as(adminKey), 'GET', '/v1/admin/keys');
      assert.ok(list.body.data.some((k) => k.id === created.body.id));
      assert.ok(!JSON.stringify(list.body).includes(secretOf(created.body.key)), 'the list shows a secret');

      assert.equal((await http(as(created.body.key), 'GET', '/v1/runs')).status, 200);
      assertProblem(await http(as(created.body.key), 'POST', '/v1/runs', { body: { type: 'answer', input: { question: 'q' } } }), 403, 'insufficient-scope');
    });

    it('rejects unknown or repeated scopes', async () => {
      const bad = await http(as(adminKey), 'POST', '/v1/admin/keys', { body: { name: 'x', scopes: ['root'] } });
      assertProblem(bad, 400, 'validation-error');
      assertProblem(await http(as(adminKey), 'POST', '/v1/admin/keys', { body: { name: 'x', scopes: ['admin', 'admin'] } }), 400, 'validation-error');
    });

    it('revokes a key at once on every API process', async () => {
      // A second API process on the same database and Redis, as in a scaled deployment.
      const redis = new Redis(stack.config.REDIS_URL, { enableOfflineQueue: false });
      const app = createApp({ db: stack.db, temporal: stack.temporal, config: stack.config, store: stack.store, log: pino({ level: 'silent' }), redis });
      const server: Server = await new Promise((resolve) => {
        const s = app.listen(0, '127.0.0.1', () => resolve(s));
      });
      try {
        const second = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
        const victim = (await createApiKey(stack.db, stack.tenantId, 'to revoke', ['runs:read'])).key;
        const prefix = victim.split('_')[1]!;
        assert.equal((await http({ baseUrl: second, apiKey: victim }, 'GET', '/v1/runs')).status, 200);
        assert.equal((await http(as(victim), 'GET', '/v1/runs')).status, 200);

        const revoked = await http<{ revokedAt: string | null }>(as(adminKey), 'DELETE', `/v1/admin/keys/${prefix}`);
        assert.equal(revoked.status, 200);
        assert.ok(revoked.body.revokedAt);
        // No waiting: the very next request on either process is refused.
        assertProblem(await http({ baseUrl: second, apiKey: victim }, 'GET', '/v1/runs'), 401, 'unauthorized');
        assertProblem(await http(as(victim), 'GET', '/v1/runs'), 401, 'unauthorized');

        const again = await http<{ revokedAt: string | null }>(as(adminKey), 'DELETE', `/v1/admin/keys/${prefix}`);
        assert.equal(again.body.revokedAt, revoked.body.revokedAt, 'revoking twice moved the revocation time');
      } finally {
        await new Promise<void>((r) => {
          server.close(() => r());
          server.closeAllConnections();
        });
        redis.disconnect();
      }
    });

    it("reads the tenant's run context with the key for a request that starts a run, as a read of its own would", async () => {
      const { tenantId, apiKey } = await stack.addTenant('run-context-tenant', ['runs:read', 'runs:write']);
      // Every part of the context away from its default: onFailure, the cache's settings, the corpus
      // version, a guardrail policy and a release policy.
      await stack.db.tenant.update({ where: { id: tenantId }, data: { onFailure: 'pause', cacheTtlSeconds: 120, cacheSimilarityThreshold: 0.93, cacheEpoch: 3 } });
      await stack.db.corpusVersion.create({ data: { tenantId, version: 7 } });
      await savePolicy(stack.db, tenantId, GuardrailPolicy.parse({ pii: { action: 'block' } }), 'key:test');
      await stack.db.releasePolicy.create({ data: { tenantId, version: 1, candidate: { model: 'candidate-model' }, percent: 25, actor: 'test', reason: 'canary' } });

      const app = express();
      app.use('/v1', authenticate(stack.db, { readsRunContext: startsRun }));
      app.use((req, res) => {
        res.json({ context: req.auth?.runContext ?? null });
      });
      const server = app.listen(0, '127.0.0.1');
      await new Promise((resolve) => server.once('listening', resolve));
      try {
        const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
        const ask = async (method: string, path: string) => {
          const res = await fetch(`${base}${path}`, { method, headers: { authorization: `Bearer ${apiKey}` } });
          assert.equal(res.status, 200);
          return ((await res.json()) as { context: unknown }).context;
        };
        const own = JSON.parse(JSON.stringify(await readTenantRunContext(stack.db, tenantId))) as Record<string, unknown>;
        assert.equal(own.onFailure, 'pause');
        assert.equal(own.corpusVersion, 7);
        assert.ok(own.release, 'the release policy was read');
        assert.deepEqual(await ask('POST', '/v1/runs'), own);
        // Other requests read the key alone.
        assert.equal(await ask('GET', '/v1/runs'), null);
        assert.equal(await ask('POST', '/v1/documents'), null);
      } finally {
        await new Promise((resolve) => server.close(resolve));
      }
    });

    it('manages tenants and keys from the CLI', async () => {
      const out: string[] = [];
      await runKeysCli(stack.db, ['create', '--tenant', 'cli-tenant', '--scopes', 'runs:read,runs:write', '--name', 'from cli'], (l) => out.push(l));
      const key = /^key\s+(keel_\S+)$/m.exec(out.join('\n'))?.[1];
      assert.ok(key, out.join('\n'));
      const tenant = await stack.db.tenant.findUniqueOrThrow({ where: { name: 'cli-tenant' } });
      assert.equal((await http(as(key), 'GET', '/v1/runs')).status, 200);
      const created = await http<{ id: string }>(as(key), 'POST', '/v1/runs', { body: { type: 'answer', input: { question: 'cli tenant' } } });
      assert.equal((await stack.db.run.findUniqueOrThrow({ where: { id: created.body.id } })).tenantId, tenant.id);

      const listed: string[] = [];
      await runKeysCli(stack.db, ['list', '--tenant', 'cli-tenant'], (l) => listed.push(l));
      assert.equal(listed.length, 1);
      assert.match(listed[0]!, /from cli\truns:read,runs:write\t.*\tactive$/);
      assert.ok(!listed[0]!.includes(secretOf(key)), 'list printed the secret');

      await runKeysCli(stack.db, ['revoke', key.split('_')[1]!], () => undefined);
      assertProblem(await http(as(key), 'GET', '/v1/runs'), 401, 'unauthorized');

      await assert.rejects(runKeysCli(stack.db, ['create', '--tenant', 'cli-tenant', '--scopes', 'root'], () => undefined), KeysCliError);
      await assert.rejects(runKeysCli(stack.db, ['revoke', 'nosuchprefix'], () => undefined), KeysCliError);
    });
  });
});
