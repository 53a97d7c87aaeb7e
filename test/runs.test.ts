import assert from 'node:assert/strict';
import { SearchAttr } from '../src/shared';
import { http, startStack, waitForRun as waitForRunIn, type TestStack } from './support/stack';

interface RunBody {
  id: string;
  status: string;
  result: { answer: string; model: string } | null;
  error: { type: string; message: string; step?: string } | null;
  steps: Array<{ step: string; attempts: Array<{ attempt: number; status: string; tokensIn: number | null; model: string | null; error: unknown }> }>;
  links: { self: string; temporalUi: string };
}

const waitForRun = (stack: TestStack, id: string) => waitForRunIn<RunBody>(stack, id);

async function startRun(stack: TestStack, question: string, options: Record<string, unknown> = {}): Promise<string> {
  const res = await http<{ id: string; status: string }>(stack, 'POST', '/v1/runs', {
    body: { type: 'answer', input: { question }, options },
  });
  assert.equal(res.status, 202, JSON.stringify(res.body));
  return res.body.id;
}

describe('runs: API → Temporal → activities → Postgres', function () {
  this.timeout(120_000);
  let stack: TestStack;

  before(async () => {
    stack = await startStack({ label: 'runs' });
  });
  after(async () => {
    await stack?.stop();
  });
  beforeEach(() => {
    stack.model.reset();
  });

  it('answers a question end to end and records every step once', async () => {
    const created = await http<{ id: string; status: string; links: RunBody['links'] }>(stack, 'POST', '/v1/runs', {
      body: { type: 'answer', input: { question: 'What does\u200B Keel do?' } },
    });
    assert.equal(created.status, 202);
    assert.equal(created.body.status, 'queued');
    assert.match(created.body.id, /^[0-9a-f-]{36}$/);
    assert.equal(created.headers.get('location'), `/v1/runs/${created.body.id}`);
    assert.ok(created.body.links.temporalUi.endsWith(`/namespaces/default/workflows/${created.body.id}`));

    const run = await waitForRun(stack, created.body.id);
    assert.equal(run.status, 'completed', JSON.stringify(run.error));
    assert.ok(run.result);
    // The zero-width space was removed before the model saw the question.
    assert.match(run.result.answer, /What does Keel do\?/);
    assert.equal(run.result.model, 'keel-offline-1');
    assert.deepEqual(run.steps.map((s) => s.step), ['guardInput', 'cacheLookup', 'retrieveContext', 'generate', 'guardOutput', 'cacheStore', 'storeResult']);
    for (const s of run.steps) assert.deepEqual(s.attempts.map((a) => a.status), ['completed'], s.step);
    const generate = run.steps.find((s) => s.step === 'generate')?.attempts[0];
    assert.ok(generate?.tokensIn && generate.tokensIn > 0);
    assert.equal(generate?.model, 'keel-offline-1');
    assert.equal(stack.model.counters().chat.completed, 1);
  });

  it('shows the run in Temporal with Keel search attributes', async () => {
    const id = await startRun(stack, 'Which attributes does the UI filter on?');
    const handle = stack.temporal.workflow.getHandle(id);
    await handle.result();
    const description = await handle.describe();
    assert.equal(description.status.name, 'COMPLETED');
    assert.equal(description.typedSearchAttributes.get(SearchAttr.tenant), stack.tenantId);
    assert.equal(description.typedSearchAttributes.get(SearchAttr.status), 'completed');
    assert.equal(description.typedSearchAttributes.get(SearchAttr.runType), 'answer');
    assert.equal(description.typedSearchAttributes.get(SearchAttr.model), 'keel-offline-1');
  });

  it('retries a failing model call and ledgers every attempt', async () => {
    stack.model.addFaults({ type: '500', count: 2, endpoint: 'chat' });
    const id = await startRun(stack, 'Does a 500 lose the run?');
    const run = await waitForRun(stack, id);
    assert.equal(run.status, 'completed');
    const attempts = run.steps.find((s) => s.step === 'generate')?.attempts ?? [];
    assert.deepEqual(attempts.map((a) => [a.attempt, a.status]), [[1, 'failed'], [2, 'failed'], [3, 'completed']]);
    assert.equal(stack.model.counters().chat.completed, 1);
  });

  it('fails at once, without retrying, when the provider rejects the request', async () => {
    stack.model.addFaults({ type: '400', count: 5, endpoint: 'chat' });
    const id = await startRun(stack, 'Is a 400 retried?');
    const run = await waitForRun(stack, id);
    assert.equal(run.status, 'failed');
    assert.equal(run.error?.type, 'ModelRequestRejected');
    assert.equal(run.error?.step, 'generate');
    assert.equal(run.steps.find((s) => s.step === 'generate')?.attempts.length, 1);
    assert.equal(stack.model.counters().chat.requests, 1);
  });

  it('lists runs newest first, with filters and cursor pagination', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push(await startRun(stack, `List me ${i}`));
    await Promise.all(ids.map((id) => waitForRun(stack, id)));

    const first = await http<{ data: Array<{ id: string }>; nextCursor: string | null }>(stack, 'GET', '/v1/runs?limit=2&status=completed');
    assert.equal(first.status, 200);
    assert.deepEqual(first.body.data.map((r) => r.id), [ids[2], ids[1]]);
    assert.ok(first.body.nextCursor);
    const second = await http<{ data: Array<{ id: string }>; nextCursor: string | null }>(
      stack, 'GET', `/v1/runs?limit=2&status=completed&cursor=${first.body.nextCursor}`,
    );
    assert.equal(second.body.data[0]?.id, ids[0]);

    const failed = await http<{ data: Array<{ id: string; status: string }> }>(stack, 'GET', '/v1/runs?status=failed');
    assert.ok(failed.body.data.every((r) => r.status === 'failed'));
    const future = await http<{ data: unknown[] }>(stack, 'GET', `/v1/runs?createdAfter=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`);
    assert.deepEqual(future.body.data, []);
  });

  it("keeps tenants apart: another tenant's key sees 404 and an empty list", async () => {
    const id = await startRun(stack, 'Tenant A only');
    const other = await stack.addTenant('tenant-b');
    const asB = { baseUrl: stack.baseUrl, apiKey: other.apiKey };
    const read = await http(asB, 'GET', `/v1/runs/${id}`);
    assert.equal(read.status, 404);
    const list = await http<{ data: Array<{ id: string }> }>(asB, 'GET', '/v1/runs');
    assert.deepEqual(list.body.data, []);
  });

  it('answers /healthz and /readyz without a key', async () => {
    const health = await http(stack, 'GET', '/healthz', { apiKey: null });
    assert.equal(health.status, 200);
    const ready = await http<{ status: string; checks: Record<string, { ok: boolean }> }>(stack, 'GET', '/readyz', { apiKey: null });
    assert.equal(ready.status, 200);
    assert.equal(ready.body.checks.postgres?.ok, true);
    assert.equal(ready.body.checks.temporal?.ok, true);
  });
});
