import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { http, startStack, type HttpResult, type TestStack } from './support/stack';

interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  errors?: Array<{ path: string; message: string }>;
}

function assertProblem(res: HttpResult<Problem>, status: number, slug: string): void {
  assert.equal(res.status, status, JSON.stringify(res.body));
  assert.match(res.headers.get('content-type') ?? '', /^application\/problem\+json/);
  assert.equal(res.body.type, `https://keel.dev/problems/${slug}`);
  assert.equal(res.body.status, status);
  assert.ok(res.body.detail.length > 0);
  assert.doesNotMatch(JSON.stringify(res.body), /at .*\.ts:\d+/, 'no stack traces');
}

describe('bad input: clear problem+json answers that change nothing', function () {
  this.timeout(120_000);
  let stack: TestStack;

  before(async () => {
    // No workers: anything that slipped through would show up as a started workflow.
    stack = await startStack({ label: 'badinput', workers: false, env: { KEEL_MAX_BODY_BYTES: '2048' } });
  });
  after(async () => {
    await stack?.stop();
  });

  async function assertNothingWritten(): Promise<void> {
    assert.equal(await stack.db.run.count(), 0, 'a rejected request wrote a run');
    assert.equal(await stack.db.runStep.count(), 0, 'a rejected request wrote a step');
    const workflows = await stack.temporal.workflow.count();
    assert.equal(workflows.count, 0, 'a rejected request started a workflow');
  }
  afterEach(assertNothingWritten);

  const post = (body: unknown, opts: { rawBody?: string; headers?: Record<string, string> } = {}) =>
    http<Problem>(stack, 'POST', '/v1/runs', { body, ...opts });

  it('malformed JSON → 400 malformed-json', async () => {
    assertProblem(await post(undefined, { rawBody: '{"type": "answer",' }), 400, 'malformed-json');
  });

  it('unknown fields → 400 with their paths', async () => {
    const res = await post({ type: 'answer', input: { question: 'q', extra: 1 }, bogus: true });
    assertProblem(res, 400, 'validation-error');
    const paths = res.body.errors?.map((e) => e.path) ?? [];
    assert.ok(paths.includes('input') || paths.includes('input.extra'), JSON.stringify(paths));
    assert.ok(paths.some((p) => p === '' || p === 'bogus'), JSON.stringify(paths));
  });

  it('wrong types → 400 naming the field', async () => {
    const res = await post({ type: 'answer', input: { question: 42 }, options: { temperature: 'hot' } });
    assertProblem(res, 400, 'validation-error');
    const paths = res.body.errors?.map((e) => e.path) ?? [];
    assert.ok(paths.includes('input.question'));
    assert.ok(paths.includes('options.temperature'));
  });

  it('an empty question → 400', async () => {
    const res = await post({ type: 'answer', input: { question: '   ' } });
    assertProblem(res, 400, 'validation-error');
    assert.deepEqual(res.body.errors?.map((e) => e.path), ['input.question']);
  });

  it('an unknown run type → 400', async () => {
    assertProblem(await post({ type: 'summon', input: {} }), 400, 'validation-error');
  });

  // zod accepts these bodies; the handler refuses them on what only it knows (the tenant's
  // registered schemas, what Ajv compiles, this deployment's limits, the tenant's documents).
  // Each must be refused before anything is written, which is checked here, in the test itself.
  describe('refused by checks inside the handler, after validation', () => {
    it('an extraction with a schema name the tenant never registered → 422', async () => {
      const res = await post({ type: 'extract', input: { text: 'Invoice 42 from ACME', schemaName: 'never-registered' } });
      assertProblem(res, 422, 'unprocessable-content');
      assert.deepEqual(res.body.errors?.map((e) => e.path), ['input.schemaName']);
      await assertNothingWritten();
    });

    it('an extraction schema that does not compile → 422', async () => {
      const res = await post({ type: 'extract', input: { text: 'Invoice 42 from ACME', schema: { type: 'object', properties: { total: { type: 'money' } } } } });
      assertProblem(res, 422, 'unprocessable-content');
      const paths = res.body.errors?.map((e) => e.path) ?? [];
      assert.ok(paths.length === 1 && paths[0]!.startsWith('input.schema'), JSON.stringify(paths));
      await assertNothingWritten();
    });

    it("more candidates than this deployment allows (zod's bound is higher) → 422", async () => {
      const res = await post({ type: 'answer', input: { question: 'q' }, options: { strategy: 'best_of_n', n: stack.config.KEEL_MAX_CANDIDATES + 1 } });
      assertProblem(res, 422, 'unprocessable-content');
      assert.deepEqual(res.body.errors?.map((e) => e.path), ['options.n']);
      await assertNothingWritten();
    });
  });

  it('a body over the limit → 413', async () => {
    const res = await post({ type: 'answer', input: { question: 'x'.repeat(4096) } });
    assertProblem(res, 413, 'payload-too-large');
  });

  it('a non-JSON content type → 415', async () => {
    const res = await post(undefined, { rawBody: 'question=hi', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    assertProblem(res, 415, 'unsupported-media-type');
  });

  it('no key, a malformed key or an unknown key → 401', async () => {
    const body = { type: 'answer', input: { question: 'hi' } };
    assertProblem(await http<Problem>(stack, 'POST', '/v1/runs', { body, apiKey: null }), 401, 'unauthorized');
    assertProblem(await http<Problem>(stack, 'POST', '/v1/runs', { body, apiKey: 'nope' }), 401, 'unauthorized');
    const forged = stack.apiKey.slice(0, -4) + 'AAAA';
    const res = await http<Problem>(stack, 'POST', '/v1/runs', { body, apiKey: forged });
    assertProblem(res, 401, 'unauthorized');
    assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer/);
  });

  it('an unknown run id → 404; an unknown route → 404', async () => {
    assertProblem(await http<Problem>(stack, 'GET', '/v1/runs/0190c2a4-0000-7000-8000-000000000000'), 404, 'not-found');
    assertProblem(await http<Problem>(stack, 'GET', '/v1/nothing-here'), 404, 'route-not-found');
  });

  it('a NUL character anywhere, which Postgres cannot store → 400 naming the field', async () => {
    const res = await post({ type: 'answer', input: { question: 'a\u0000b' } });
    assertProblem(res, 400, 'validation-error');
    assert.deepEqual(res.body.errors?.map((e) => e.path), ['input.question']);
    assertProblem(await http<Problem>(stack, 'GET', '/v1/runs/a%00b'), 400, 'validation-error');
    assertProblem(await http<Problem>(stack, 'GET', `/v1/runs?cursor=${'A'.repeat(31)}%00`), 400, 'validation-error');
    assertProblem(await http<Problem>(stack, 'GET', '/v1/runs?cursor=%00'), 400, 'validation-error');
  });

  it('deeply nested JSON → 400, not a stack overflow', async () => {
    const res = await post(undefined, { rawBody: '['.repeat(900) + ']'.repeat(900) });
    assertProblem(res, 400, 'validation-error');
    assert.match(res.body.errors?.[0]?.message ?? '', /nested more than 32 levels/);
    const object = await post({ type: 'answer', input: { question: 'q' }, options: JSON.parse('{"a":'.repeat(100) + '1' + '}'.repeat(100)) as unknown });
    assertProblem(object, 400, 'validation-error');
  });

  it('a broken percent-encoding in the path → 400 malformed-uri', async () => {
    assertProblem(await http<Problem>(stack, 'GET', '/v1/runs/%E0%A4%A'), 400, 'malformed-uri');
  });

  it('a lone UTF-16 surrogate in any string (question, extract text, schema key or value) → 400, nothing stored', async () => {
    // JSON.stringify escapes a lone surrogate as \udXXX, as a hostile client would send it.
    const question = await post({ type: 'answer', input: { question: 'half a pair: \ud800' } });
    assertProblem(question, 400, 'validation-error');
    assert.deepEqual(question.body.errors?.map((e) => e.path), ['input.question']);
    const text = await post({ type: 'extract', input: { text: 'x\udfff', schema: { type: 'object' } } });
    assertProblem(text, 400, 'validation-error');
    assert.deepEqual(text.body.errors?.map((e) => e.path), ['input.text']);
    for (const schema of [{ type: 'object', description: '\ud83d' }, { type: 'object', properties: { ['k\udc00']: { type: 'string' } } }]) {
      assertProblem(await http<Problem>(stack, 'PUT', '/v1/schemas/lonely', { body: { schema } }), 400, 'validation-error');
    }
    assert.equal(await stack.db.extractionSchema.count(), 0);
    // A well-formed pair (an emoji) is ordinary text.
    assert.equal((await http(stack, 'PUT', '/v1/schemas/emoji', { body: { schema: { type: 'object', description: '\ud83d\ude00' } } })).status, 200);
    await stack.db.extractionSchema.deleteMany({});
  });

  it('extract input with both or neither of documentId/text (or schema/schemaName) → 400 saying so', async () => {
    const both = await post({ type: 'extract', input: { documentId: '0190c2a4-0000-7000-8000-000000000000', text: 'x', schema: {} } });
    assertProblem(both, 400, 'validation-error');
    assert.match(both.body.detail, /exactly one of documentId and text/);
    const empty = await post({ type: 'extract', input: { text: '  ', schemaName: 'travel' } });
    assertProblem(empty, 400, 'validation-error');
    assert.deepEqual(empty.body.errors?.map((e) => e.path), ['input.text'], 'the one shape the input has names its field');
  });

  it('Content-Encoding: gzip on a body that is not gzip → 400; a real gzip body is read', async () => {
    const res = await post(undefined, { rawBody: '{"type":"answer","input":{"question":"hi"}}', headers: { 'content-encoding': 'gzip' } });
    assertProblem(res, 400, 'malformed-body');
    const zipped = await fetch(`${stack.baseUrl}/v1/runs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${stack.apiKey}`, 'content-type': 'application/json', 'content-encoding': 'gzip' },
      body: gzipSync('{"type":"answer","input":{"question":""}}'),
    });
    assert.equal(zipped.status, 400, 'inflated and validated: the question is empty');
    assert.equal(((await zipped.json()) as Problem).type, 'https://keel.dev/problems/validation-error');
  });

  it('instants in year 0 or after 9999 (in UTC) filter as the ends of time; a negative year → 400', async () => {
    for (const q of ['createdAfter=0000-01-01T00:00:00Z', 'createdBefore=0001-01-01T00:00:00%2B01:00', 'createdAfter=9999-12-31T23:59:59-05:00']) {
      const res = await http<{ data: unknown[] }>(stack, 'GET', `/v1/runs?${q}`);
      assert.equal(res.status, 200, q);
      assert.deepEqual(res.body.data, []);
    }
    assertProblem(await http<Problem>(stack, 'GET', '/v1/runs?createdAfter=-0001-01-01T00:00:00Z'), 400, 'validation-error');
  });

  it('any cursor of the documented form is a page position, whatever its time or id', async () => {
    for (const cursor of ['A'.repeat(32), '_'.repeat(32), 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'.replace(/A$/, '-')]) {
      assert.equal((await http(stack, 'GET', `/v1/runs?cursor=${cursor}`)).status, 200, cursor);
    }
  });

  it('a method a known path does not serve → 405 with Allow', async () => {
    const trace = await http<Problem>(stack, 'PATCH', '/v1/runs');
    assertProblem(trace, 405, 'method-not-allowed');
    assert.equal(trace.headers.get('allow'), 'GET, HEAD, OPTIONS, POST');
    const del = await http<Problem>(stack, 'DELETE', '/v1/runs/0190c2a4-0000-7000-8000-000000000000/cancel');
    assertProblem(del, 405, 'method-not-allowed');
    assert.equal(del.headers.get('allow'), 'OPTIONS, POST');
    assertProblem(await http<Problem>(stack, 'PATCH', '/v1/nothing-here'), 404, 'route-not-found');
  });

  it('an upload whose name holds a NUL → 400, and no object, document or run is left behind', async () => {
    const form = new FormData();
    form.set('name', 'bad\u0000name');
    form.set('file', new Blob(['Employees fly economy.'], { type: 'text/plain' }), 'policy.txt');
    const res = await http<Problem>(stack, 'POST', '/v1/documents', { form });
    assertProblem(res, 400, 'validation-error');
    assert.deepEqual(res.body.errors?.map((e) => e.path), ['name']);
    assert.equal(await stack.db.document.count(), 0);
    const objects = await readdir(path.join(stack.config.KEEL_DATA_DIR, 'objects'), { recursive: true }).catch(() => []);
    assert.deepEqual(objects.filter((f) => /[0-9a-f]{64}$/.test(f)), [], 'no stored object');
  });

  it('bad list filters and a forged cursor → 400', async () => {
    assertProblem(await http<Problem>(stack, 'GET', '/v1/runs?status=sleeping'), 400, 'validation-error');
    assertProblem(await http<Problem>(stack, 'GET', '/v1/runs?limit=0'), 400, 'validation-error');
    assertProblem(await http<Problem>(stack, 'GET', '/v1/runs?cursor=abc'), 400, 'validation-error');
  });
});
