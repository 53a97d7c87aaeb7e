import assert from 'node:assert/strict';
import { temporal } from '@temporalio/proto';
import { eventually, http, startStack, waitForRun, type HttpResult, type TestStack } from './support/stack';

/**
 * Issue 12, the API's share: hostile schemas, texts, questions and keys are refused with a 4xx or
 * end in a defined run state within seconds, and another tenant's run meanwhile completes.
 */

interface Problem {
  type: string;
  detail: string;
  errors?: Array<{ path: string; message: string }>;
}

function assertProblem(res: HttpResult<unknown>, status: number, slug: string, detail?: RegExp): void {
  assert.equal(res.status, status, JSON.stringify(res.body));
  assert.match(res.headers.get('content-type') ?? '', /^application\/problem\+json/);
  const body = res.body as Problem;
  assert.equal(body.type, `https://keel.dev/problems/${slug}`);
  if (detail) assert.match(body.detail, detail);
}

type Run = { id: string; status: string; error: { type: string; message: string } | null; result: { data: unknown; sections: number } | null };

describe('hostile input at the API: schemas, long texts, keys, invisible questions', function () {
  this.timeout(240_000);
  let stack: TestStack;
  let other: { tenantId: string; apiKey: string };

  before(async () => {
    stack = await startStack({ label: 'hostile-api' });
    other = await stack.addTenant('bystander');
  });
  after(async () => {
    await stack?.stop();
  });

  const asOther = () => ({ baseUrl: stack.baseUrl, apiKey: other.apiKey });
  const runCount = (tenantId: string) => stack.db.run.count({ where: { tenantId } });

  /** Another tenant's answer run, started while the attack runs: it must still complete. */
  async function bystanderAnswer(): Promise<string> {
    const res = await http<{ id: string }>(asOther(), 'POST', '/v1/runs', { body: { type: 'answer', input: { question: 'What does the handbook say about travel?' } }, headers: { 'cache-control': 'no-cache' } });
    assert.equal(res.status, 202);
    return res.body.id;
  }

  describe('extraction schemas (items 4, 7, 9)', () => {
    it('runs a catastrophic-backtracking pattern in linear time: the run ends within seconds, twice, and a bystander completes', async () => {
      const put = await http(stack, 'PUT', '/v1/schemas/redos', {
        body: { schema: { type: 'object', properties: { code: { type: 'string', pattern: '(a+)+$' } }, required: ['code'] } },
      });
      assert.equal(put.status, 200, JSON.stringify(put.body));
      const text = `The code is ${'a'.repeat(32)}! and nothing else.`;
      const ids = await Promise.all(
        [0, 1].map(async () => {
          const res = await http<{ id: string }>(stack, 'POST', '/v1/runs', { body: { type: 'extract', input: { text, schemaName: 'redos' } } });
          assert.equal(res.status, 202, JSON.stringify(res.body));
          return res.body.id;
        }),
      );
      const bystander = await bystanderAnswer();
      for (const id of ids) {
        const run = await waitForRun<Run>(stack, id, 60_000);
        // The offline model's text does not match the pattern: extract, repair, then a defined failure.
        assert.equal(run.status, 'failed', JSON.stringify(run));
        assert.equal(run.error?.type, 'ExtractionInvalid');
        assert.match(run.error?.message ?? '', /must match pattern/);
      }
      assert.equal((await waitForRun(asOther(), bystander, 60_000)).status, 'completed');
    });

    it('refuses patterns RE2 cannot run, with the path of the pattern, and stores nothing', async () => {
      const res = await http<Problem>(stack, 'PUT', '/v1/schemas/lookahead', {
        body: { schema: { type: 'object', properties: { code: { type: 'string', pattern: '^(?=.*\\d).+$' } } } },
      });
      assertProblem(res, 422, 'unprocessable-content', /RE2/);
      assert.equal(res.body.errors?.[0]?.path, 'schema/properties/code/pattern');
      assert.equal(await stack.db.extractionSchema.count({ where: { tenantId: stack.tenantId, name: 'lookahead' } }), 0);
    });

    it('refuses self-referencing schemas and impossible lower bounds with a 422 before any run starts', async () => {
      const before = await runCount(stack.tenantId);
      const bad: Array<[Record<string, unknown>, RegExp]> = [
        [{ allOf: [{ $ref: '#' }] }, /refers back to itself/],
        [{ $ref: '#' }, /refers back to itself/],
        [{ type: 'object', properties: { items: { type: 'array', minItems: 100_000_000 } } }, /minItems 100000000 is above/],
      ];
      for (const [schema, message] of bad) {
        const inline = await http<Problem>(stack, 'POST', '/v1/runs', { body: { type: 'extract', input: { text: 'Anything at all.', schema } } });
        assertProblem(inline, 422, 'unprocessable-content', message);
        const registered = await http<Problem>(stack, 'PUT', '/v1/schemas/bad', { body: { schema } });
        assertProblem(registered, 422, 'unprocessable-content', message);
      }
      assert.equal(await runCount(stack.tenantId), before, 'no run was created');
      assert.equal(await stack.db.extractionSchema.count({ where: { tenantId: stack.tenantId, name: 'bad' } }), 0);
    });

    it('refuses a 930 KB schema with 15,000 properties cheaply: six at once, /healthz keeps answering', async () => {
      const properties: Record<string, unknown> = {};
      for (let i = 0; i < 15_000; i++) properties[`field_${i}`] = { type: 'string', description: 'a wide schema' };
      const schema = { type: 'object', properties };
      assert.ok(JSON.stringify({ schema }).length > 900_000 && JSON.stringify({ schema }).length < stack.config.KEEL_MAX_BODY_BYTES);
      const health = (async () => {
        const res = await fetch(`${stack.baseUrl}/healthz`);
        return res.status;
      })();
      const puts = await Promise.all(Array.from({ length: 6 }, (_, i) => http<Problem>(stack, 'PUT', `/v1/schemas/wide-${i}`, { body: { schema } })));
      for (const res of puts) assertProblem(res, 422, 'unprocessable-content', /more than 1000 properties/);
      assert.equal(await health, 200);
    });
  });

  describe('long extract texts ride by key, not in payloads (item 8)', () => {
    const schema = { type: 'object', properties: { topics: { type: 'array', items: { type: 'string' } } } };
    const longText = (chars: number) => {
      const paragraph = 'Travel is booked through the portal and approved by a manager before departure. Meals abroad are covered up to the daily allowance. ';
      const paragraphs: string[] = [];
      let size = 0;
      for (let i = 0; size < chars; i++) {
        const p = `Section ${i}. ${paragraph.repeat(3)}`;
        paragraphs.push(p);
        size += p.length + 2;
      }
      return paragraphs.join('\n\n').slice(0, chars).trim();
    };

    for (const chars of [350_000, 500_000]) {
      it(`extracts from ${chars.toLocaleString('en')} characters; no history payload carries the text`, async () => {
        const text = longText(chars);
        assert.ok(text.length > chars - 10 && text.length <= 500_000);
        const created = await http<{ id: string }>(stack, 'POST', '/v1/runs', { body: { type: 'extract', input: { text, schema } } });
        assert.equal(created.status, 202, JSON.stringify(created.body));
        const bystander = await bystanderAnswer();
        const run = await waitForRun<Run>(stack, created.body.id, 180_000);
        assert.equal(run.status, 'completed', JSON.stringify(run.error));
        assert.ok(run.result!.sections > 10, `${run.result!.sections} sections`);
        assert.ok(Array.isArray((run.result!.data as { topics: unknown[] }).topics));

        const history = await stack.temporal.workflow.getHandle(created.body.id).fetchHistory();
        const largest = Math.max(
          ...(history.events ?? []).map((e) => temporal.api.history.v1.HistoryEvent.encode(e).finish().length),
        );
        assert.ok(largest < 2 * stack.config.KEEL_INLINE_PAYLOAD_MAX_BYTES, `largest history event: ${largest} bytes`);
        assert.equal((await waitForRun(asOther(), bystander, 60_000)).status, 'completed');
      });
    }
  });

  describe('questions of invisible characters only (item 13, API part)', () => {
    it('is a 400 at the API, not a run that fails later', async () => {
      const before = await runCount(stack.tenantId);
      const answer = await http<Problem>(stack, 'POST', '/v1/runs', { body: { type: 'answer', input: { question: '\u200B\u200C\u200D\u2060\uFEFF\u202E' } } });
      assertProblem(answer, 400, 'validation-error', /visible characters/);
      assert.equal(answer.body.errors?.[0]?.path, 'input.question');
      const extract = await http<Problem>(stack, 'POST', '/v1/runs', { body: { type: 'extract', input: { text: '\u200B\u200B\u0007', schema: { type: 'object' } } } });
      assertProblem(extract, 400, 'validation-error', /visible characters/);
      assert.equal(await runCount(stack.tenantId), before);
      // Visible text with invisible characters in it still runs (the sanitizer removes them).
      const ok = await http(stack, 'POST', '/v1/runs', { body: { type: 'answer', input: { question: '\u200BWhat is\u200D the travel policy?' } } });
      assert.equal(ok.status, 202);
    });
  });

  describe('API keys (items 6 and 14)', () => {
    it('lets an admin key grant only the scopes it holds', async () => {
      const adminOnly = await stack.addTenant('admin-only', ['admin']);
      const asAdmin = { baseUrl: stack.baseUrl, apiKey: adminOnly.apiKey };
      for (const scopes of [['runs:write'], ['operator'], ['admin', 'runs:read']]) {
        const res = await http<Problem & { scopes: string[] }>(asAdmin, 'POST', '/v1/admin/keys', { body: { name: 'escalation', scopes } });
        assertProblem(res, 403, 'scope-not-held');
        assert.deepEqual(res.body.scopes, scopes.filter((s) => s !== 'admin'));
      }
      assert.equal(await stack.db.apiKey.count({ where: { tenantId: adminOnly.tenantId } }), 1, 'no key was created');
      const same = await http<{ scopes: string[] }>(asAdmin, 'POST', '/v1/admin/keys', { body: { name: 'another admin', scopes: ['admin'] } });
      assert.equal(same.status, 201);
      // A key holding everything may hand out any subset.
      const full = await http<{ scopes: string[] }>(stack, 'POST', '/v1/admin/keys', { body: { name: 'ci', scopes: ['runs:write', 'operator'] } });
      assert.equal(full.status, 201);
      assert.deepEqual(full.body.scopes, ['runs:write', 'operator']);
    });

    it('maintains lastUsedAt without a write per request', async () => {
      const t = await stack.addTenant('last-used', ['runs:read']);
      const as = { baseUrl: stack.baseUrl, apiKey: t.apiKey };
      const lastUsed = async () => (await stack.db.apiKey.findFirstOrThrow({ where: { tenantId: t.tenantId } })).lastUsedAt;
      assert.equal(await lastUsed(), null);
      assert.equal((await http(as, 'GET', '/v1/runs')).status, 200);
      const first = await eventually(async () => (await lastUsed()) ?? undefined, 'lastUsedAt to be set');
      for (let i = 0; i < 5; i++) assert.equal((await http(as, 'GET', '/v1/runs')).status, 200);
      assert.deepEqual(await lastUsed(), first, 'requests within the interval write nothing');
      // Once the stored time is older than the interval, the next request refreshes it.
      const old = new Date(Date.now() - stack.config.KEEL_KEY_LAST_USED_INTERVAL_MS - 60_000);
      await stack.db.apiKey.updateMany({ where: { tenantId: t.tenantId }, data: { lastUsedAt: old } });
      assert.equal((await http(as, 'GET', '/v1/runs')).status, 200);
      await eventually(async () => ((await lastUsed())!.getTime() > first.getTime() ? true : undefined), 'lastUsedAt to be refreshed');
      const listed = await http<{ data: Array<{ lastUsedAt: string | null }> }>(stack, 'GET', '/v1/admin/keys');
      assert.ok(listed.body.data.some((k) => k.lastUsedAt !== null), 'the key list shows lastUsedAt');
    });
  });
});
