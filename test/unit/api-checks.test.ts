import assert from 'node:assert/strict';
import type { Request, Response } from 'express';
import { z } from 'zod';
import { IDEMPOTENCY_HEADER, idempotencyKeyReused, readIdempotencyKey } from '../../src/api/idempotency';
import { runLinks } from '../../src/api/links';
import { HttpProblem, PROBLEM_BASE, problems } from '../../src/api/problem';
import { requireScope } from '../../src/api/scopes';
import { issuesOf, route } from '../../src/api/validate';
import { SCOPES } from '../../src/auth/scopes';
import { loadConfig } from '../../src/config';

/** Runs a middleware on a request and returns what it passed to `next` (undefined = let through). */
function nextOf(handler: ReturnType<typeof requireScope>, req: Partial<Request>): unknown {
  let passed: unknown = 'next was not called';
  handler(req as Request, {} as Response, (err?: unknown) => {
    passed = err;
  });
  return passed;
}

function assertProblem(err: unknown, status: number, slug: string): HttpProblem {
  assert.ok(err instanceof HttpProblem, `expected an HttpProblem, got ${String(err)}`);
  assert.equal(err.status, status);
  assert.equal(err.slug, slug);
  assert.equal(err.toBody().type, PROBLEM_BASE + slug);
  return err;
}

describe('scope checks (requireScope)', () => {
  const auth = (scopes: string[]) => ({ auth: { tenantId: 't', keyId: 'k', scopes } });

  it('lets a key through only with the exact scope the route needs: no scope implies another', () => {
    for (const needed of SCOPES) {
      assert.equal(nextOf(requireScope(needed), auth([needed])), undefined, needed);
      const others = SCOPES.filter((s) => s !== needed);
      const refused = assertProblem(nextOf(requireScope(needed), auth(others)), 403, 'insufficient-scope');
      assert.equal(refused.extensions.requiredScope, needed);
      assert.match(refused.message, new RegExp(`\`${needed}\``));
    }
  });

  it('refuses a request that was not authenticated with 401, not 403', () => {
    const err = assertProblem(nextOf(requireScope('runs:read'), {}), 401, 'unauthorized');
    assert.equal(err.headers['WWW-Authenticate'], 'Bearer realm="keel"');
  });

  it('refuses an empty scope list and a scope that only looks alike', () => {
    assertProblem(nextOf(requireScope('admin'), auth([])), 403, 'insufficient-scope');
    assertProblem(nextOf(requireScope('runs:write'), auth(['runs:read', 'runs:*', 'RUNS:WRITE'])), 403, 'insufficient-scope');
  });
});

describe('Idempotency-Key header', () => {
  const req = (value?: string | string[]) => ({ headers: value === undefined ? {} : { [IDEMPOTENCY_HEADER]: value } }) as unknown as Request;

  it('is optional, and read as sent', () => {
    assert.equal(readIdempotencyKey(req()), undefined);
    assert.equal(readIdempotencyKey(req('order-4711')), 'order-4711');
    assert.equal(readIdempotencyKey(req('x'.repeat(255))), 'x'.repeat(255));
    assert.equal(readIdempotencyKey(req('!~')), '!~');
  });

  it('refuses empty, over-long, non-ASCII, spaced or repeated keys with 400 naming the header', () => {
    for (const bad of ['', 'x'.repeat(256), 'clé', 'a b', 'tab\there', ['a', 'b']]) {
      let thrown: unknown;
      try {
        readIdempotencyKey(req(bad));
      } catch (err) {
        thrown = err;
      }
      const p = assertProblem(thrown, 400, 'validation-error');
      const errors = p.extensions.errors as Array<{ path: string }>;
      assert.ok(errors.length > 0 && errors.every((e) => e.path === 'Idempotency-Key'), JSON.stringify(errors));
      assert.match(p.message, /^The header is not valid: Idempotency-Key: /);
    }
  });

  it('a reused key with another body is a 409', () => {
    const p = assertProblem(idempotencyKeyReused(), 409, 'idempotency-key-reused');
    assert.match(p.message, /different request body/);
    assert.equal(p.title, 'Idempotency key reused');
  });
});

describe('request validation (route)', () => {
  type Input = { params: unknown; query: unknown; body: unknown };
  async function call(shapes: Parameters<typeof route>[0], req: Partial<Request> & { contentType?: string }): Promise<{ input?: Input; err?: unknown }> {
    return new Promise((resolve) => {
      const handler = route(shapes, async (_req, _res, input) => {
        resolve({ input });
      });
      const full = {
        params: {},
        query: {},
        headers: req.contentType === undefined ? {} : { 'content-type': req.contentType },
        is: (type: string) => (req.contentType?.startsWith(type) ? type : false),
        ...req,
      } as unknown as Request;
      handler(full, {} as Response, (err?: unknown) => resolve({ err }));
    });
  }
  const Body = z.object({ name: z.string().min(1), tags: z.array(z.string()).optional() }).strict();

  it('hands the handler typed params, query and body', async () => {
    const { input, err } = await call(
      { params: z.object({ id: z.string() }), query: z.object({ limit: z.coerce.number() }), body: Body },
      { params: { id: 'r1' }, query: { limit: '5' }, body: { name: 'n' }, contentType: 'application/json' },
    );
    assert.equal(err, undefined);
    assert.deepEqual(input, { params: { id: 'r1' }, query: { limit: 5 }, body: { name: 'n' } });
  });

  it('answers 400 with the failing paths, naming where', async () => {
    const { err } = await call({ body: Body }, { body: { name: '', extra: 1 }, contentType: 'application/json' });
    const p = assertProblem(err, 400, 'validation-error');
    assert.deepEqual((p.extensions.errors as Array<{ path: string }>).map((e) => e.path).sort(), ['', 'name']);
    assert.match(p.message, /^The body is not valid: /);
    const q = assertProblem((await call({ query: z.object({ limit: z.coerce.number().int() }) }, { query: { limit: 'x' } })).err, 400, 'validation-error');
    assert.match(q.message, /^The query string is not valid: limit: /);
    const pp = assertProblem((await call({ params: z.object({ id: z.uuid() }) }, { params: { id: 'nope' } })).err, 400, 'validation-error');
    assert.match(pp.message, /^The path is not valid: id: /);
  });

  it('refuses a NUL in any string or key, and nesting deeper than 32 levels, before the schema runs', async () => {
    const nul = assertProblem((await call({ body: z.unknown() }, { body: { a: [{ b: 'x\u0000y' }] }, contentType: 'application/json' })).err, 400, 'validation-error');
    assert.deepEqual(nul.extensions.errors, [{ path: 'a.0.b', message: 'must not contain NUL (U+0000) or a lone UTF-16 surrogate' }]);
    const key = assertProblem((await call({ body: z.unknown() }, { body: { a: { ['k\u0000']: 1 } }, contentType: 'application/json' })).err, 400, 'validation-error');
    assert.deepEqual(key.extensions.errors, [{ path: 'a.k\u0000', message: 'must not contain NUL (U+0000) or a lone UTF-16 surrogate' }]);
    // null, numbers and booleans are leaves, not objects to walk.
    assert.equal((await call({ body: z.unknown() }, { body: { a: null, b: [null, 1, true] }, contentType: 'application/json' })).err, undefined);
    let deep: unknown = 'leaf';
    for (let i = 0; i < 32; i++) deep = { d: deep };
    // 32 levels of objects are fine; 33 are not.
    assert.equal((await call({ body: z.unknown() }, { body: deep, contentType: 'application/json' })).err, undefined);
    const tooDeep = assertProblem((await call({ body: z.unknown() }, { body: { d: deep }, contentType: 'application/json' })).err, 400, 'validation-error');
    const issues = tooDeep.extensions.errors as Array<{ path: string; message: string }>;
    assert.equal(issues.length, 1);
    assert.equal(issues[0]?.path, Array(32).fill('d').join('.'));
    assert.equal(issues[0]?.message, 'is nested more than 32 levels deep');
  });

  it('reports at most ten structural issues', async () => {
    const body = Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`f${i}`, '\u0000']));
    const p = assertProblem((await call({ body: z.unknown() }, { body, contentType: 'application/json' })).err, 400, 'validation-error');
    assert.equal((p.extensions.errors as unknown[]).length, 10);
  });

  it('a body that is not JSON is a 415; a request without a content type is parsed as is', async () => {
    assertProblem((await call({ body: Body }, { body: { name: 'n' }, contentType: 'text/plain' })).err, 415, 'unsupported-media-type');
    assert.equal((await call({ body: Body }, { body: { name: 'n' } })).err, undefined);
    // Without a body schema the content type does not matter.
    assert.equal((await call({}, { contentType: 'text/plain' })).err, undefined);
  });

  it('issuesOf joins zod paths with dots', () => {
    const r = z.object({ a: z.array(z.object({ b: z.number() })) }).safeParse({ a: [{ b: 'x' }] });
    assert.ok(!r.success);
    assert.deepEqual(issuesOf(r.error).map((i) => i.path), ['a.0.b']);
  });
});

describe('problems', () => {
  it('carry status, slug, headers and extensions clients rely on', () => {
    const v = problems.validation([{ path: '', message: 'bad' }, { path: 'x', message: 'worse' }], 'body');
    assert.equal(v.message, 'The body is not valid: (root): bad; x: worse');
    assert.deepEqual(problems.validation([{ path: 'p', message: 'm' }]).message, 'The request is not valid: p: m');
    assert.deepEqual(problems.rateLimited(7).headers, { 'Retry-After': '7' });
    assert.equal(problems.rateLimited(7).extensions.retryAfter, 7);
    assert.deepEqual(problems.concurrencyLimit(3).headers, { 'Retry-After': '5' });
    assert.equal(problems.concurrencyLimit(3).status, 429);
    assert.equal(problems.concurrencyLimit(3).slug, 'concurrency-limit');
    assert.equal(problems.tooLarge(10).status, 413);
    assert.equal(problems.timeout(200).extensions.timeoutMs, 200);
    assert.equal(problems.notFound('Run x').message, 'Run x was not found.');
    assert.equal(problems.routeNotFound('GET', '/nope').message, 'No route for GET /nope.');
    assert.equal(problems.internal().status, 500);
    assert.deepEqual(problems.unavailable('later').toBody('/v1/x'), {
      type: `${PROBLEM_BASE}service-unavailable`, title: 'Service unavailable', status: 503, detail: 'later', instance: '/v1/x',
    });
    assert.equal('instance' in problems.internal().toBody(), false);
  });
});

describe('run links', () => {
  it('points at the API resource and the Temporal UI page, escaping the id and namespace', () => {
    const base = loadConfig({ TEMPORAL_UI_URL: 'http://ui.example/', TEMPORAL_NAMESPACE: 'team a' });
    assert.deepEqual(runLinks(base, 'r/1'), { self: '/v1/runs/r/1', temporalUi: 'http://ui.example/namespaces/team%20a/workflows/r%2F1' });
    const pub = loadConfig({ KEEL_PUBLIC_URL: 'https://api.example.com', TEMPORAL_UI_URL: 'http://ui.example' });
    assert.equal(runLinks(pub, 'r1').self, 'https://api.example.com/v1/runs/r1');
    assert.equal(runLinks(pub, 'r1').temporalUi, 'http://ui.example/namespaces/default/workflows/r1');
  });
});
