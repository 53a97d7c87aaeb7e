import assert from 'node:assert/strict';
import { eventually, http, startStack, waitForRun, type TestStack } from './support/stack';
import { freePort, spawnRedis, type KeelProcess } from './support/processes';

interface RunBody {
  id: string;
  status: string;
  cached?: boolean;
  cache?: { kind: string; originalRunId: string; ageSeconds: number; similarity?: number } | null;
  result?: { answer: string; cache?: { kind: string; originalRunId: string; similarity?: number } } | null;
}

const chatCalls = (stack: TestStack) => stack.model.counters().chat.completed;

async function ask(stack: TestStack, question: string, opts: { apiKey?: string; headers?: Record<string, string> } = {}) {
  return http<RunBody>(stack, 'POST', '/v1/runs', { body: { type: 'answer', input: { question } }, ...opts });
}

/** Asks and waits for the run to finish (or takes the 201 of a cached answer as it is). */
async function answer(stack: TestStack, question: string, opts: { apiKey?: string; headers?: Record<string, string> } = {}): Promise<{ status: number; run: RunBody }> {
  const res = await ask(stack, question, opts);
  assert.ok(res.status === 201 || res.status === 202, `POST /v1/runs answered ${res.status}`);
  if (res.status === 201) return { status: 201, run: res.body };
  const run = await waitForRun<RunBody>({ baseUrl: stack.baseUrl, apiKey: opts.apiKey ?? stack.apiKey }, res.body.id, 90_000);
  assert.equal(run.status, 'completed', `run ${run.id} ended ${run.status}`);
  return { status: 202, run };
}

async function metric(stack: TestStack, side: 'api' | 'worker', name: string, labels: Record<string, string>): Promise<number> {
  const values = (await stack.metrics[side].registry.getSingleMetric(name)?.get())?.values ?? [];
  return values.filter((v: { labels: Record<string, unknown> }) => Object.entries(labels).every(([k, want]) => v.labels[k] === want)).reduce((s: number, v: { value: number }) => s + v.value, 0);
}

describe('result cache: exact and semantic tiers, isolation, governance, single flight', function () {
  this.timeout(240_000);
  let stack: TestStack;

  before(async () => {
    // The single-flight test polls 50 runs at once (10 requests a second each), which spends the
    // default 600 requests a minute in seconds: the tests after it then got 429s until the window
    // passed. Rate limits have their own tests (test/limits.test.ts).
    stack = await startStack({ label: 'cache', env: { KEEL_EMBEDDING_MODEL: 'multilingual-e5-small', KEEL_RATE_LIMIT_PER_MINUTE: '100000' } });
    assert.equal(stack.model.embeddingFallbackReason, undefined, 'the offline embedding model must be installed (npm run setup)');
  });
  after(async () => stack?.stop());

  it('answers a repeat from the exact cache at once, without a model call, and still records the run', async () => {
    const question = 'What is the notice period for resigning employees?';
    const first = await answer(stack, question);
    assert.equal(first.status, 202);
    assert.equal(first.run.result?.cache, undefined);
    const calls = chatCalls(stack);

    const repeat = await ask(stack, `  What is the notice  period for resigning employees?`);
    assert.equal(repeat.status, 201);
    assert.equal(repeat.body.cached, true);
    assert.equal(repeat.body.status, 'completed');
    assert.equal(repeat.body.cache?.kind, 'exact');
    assert.equal(repeat.body.cache?.originalRunId, first.run.id);
    assert.equal(repeat.body.result?.answer, first.run.result?.answer);
    assert.equal(chatCalls(stack), calls, 'no model call for an exact hit');

    // The row and its one ledger row, as the API wrote them in one statement: read back whole.
    type Recorded = RunBody & {
      type: string; model: string | null; input: unknown; options: unknown; error: unknown; executions: string[];
      startedAt: string | null; completedAt: string | null;
      steps: Array<{ step: string; attempts: Array<{ attempt: number; status: string; workflowRunId: string; tokensIn: number | null; tokensOut: number | null; costUsd: number | null; latencyMs: number | null }> }>;
    };
    const recorded = await http<Recorded>(stack, 'GET', `/v1/runs/${repeat.body.id}`);
    assert.equal(recorded.body.status, 'completed');
    assert.equal(recorded.body.type, 'answer');
    assert.deepEqual(recorded.body.input, { question: 'What is the notice  period for resigning employees?' });
    assert.equal(recorded.body.result?.answer, first.run.result?.answer);
    assert.equal(recorded.body.model, (first.run as RunBody & { model?: string }).model);
    assert.equal(recorded.body.error, null);
    assert.deepEqual(recorded.body.executions, ['api'], 'no Temporal execution: the ledger names the API as what did the work');
    assert.ok(recorded.body.startedAt && recorded.body.completedAt && recorded.body.startedAt <= recorded.body.completedAt);
    assert.deepEqual(recorded.body.cache?.originalRunId, first.run.id);
    assert.deepEqual(recorded.body.steps.map((s) => s.step), ['cacheLookup']);
    const [lookup] = recorded.body.steps[0]!.attempts;
    assert.deepEqual(
      { attempt: lookup?.attempt, status: lookup?.status, workflowRunId: lookup?.workflowRunId, tokensIn: lookup?.tokensIn, tokensOut: lookup?.tokensOut, costUsd: lookup?.costUsd },
      { attempt: 1, status: 'completed', workflowRunId: 'api', tokensIn: 0, tokensOut: 0, costUsd: 0 },
    );
    assert.ok((lookup?.latencyMs ?? -1) >= 0);
    assert.ok((await metric(stack, 'api', 'keel_cache_lookups_total', { cache: 'exact', result: 'hit' })) >= 1);
    assert.ok((await metric(stack, 'api', 'keel_runs_started_total', { type: 'answer' })) >= 1);
  });

  it('answers a paraphrase from the semantic cache, reporting its similarity', async () => {
    const original = await answer(stack, 'Where can employees find the holiday calendar?');
    const calls = chatCalls(stack);
    const paraphrase = await answer(stack, 'Where do employees find the holiday calendar?');
    assert.equal(paraphrase.status, 202, 'a paraphrase is no exact hit: the run starts');
    assert.equal(paraphrase.run.result?.cache?.kind, 'semantic');
    assert.equal(paraphrase.run.result?.cache?.originalRunId, original.run.id);
    assert.ok((paraphrase.run.result?.cache?.similarity ?? 0) >= stack.config.KEEL_CACHE_SIMILARITY_THRESHOLD);
    assert.equal(paraphrase.run.cache?.kind, 'semantic');
    assert.equal(chatCalls(stack), calls, 'no model call for a semantic hit');
    assert.ok((await metric(stack, 'worker', 'keel_cache_lookups_total', { cache: 'semantic', result: 'hit' })) >= 1);
    assert.ok((await metric(stack, 'worker', 'keel_cache_tokens_saved_total', { cache: 'semantic' })) > 0);
  });

  it('never serves one tenant from another tenant\'s cache', async () => {
    const question = 'Which office locations offer on-site parking?';
    await answer(stack, question);
    const other = await stack.addTenant('tenant-b');
    const calls = chatCalls(stack);
    const theirs = await answer(stack, question, { apiKey: other.apiKey });
    assert.equal(theirs.status, 202);
    assert.equal(theirs.run.result?.cache, undefined);
    assert.equal(chatCalls(stack), calls + 1);
  });

  it('misses when the question differs only in a number or a negation', async () => {
    await answer(stack, 'How many vacation days do employees get after 5 years of service?');
    await answer(stack, 'Can contractors access the staging VPN?');
    const calls = chatCalls(stack);
    const number = await answer(stack, 'How many vacation days do employees get after 10 years of service?');
    const negated = await answer(stack, 'Can contractors not access the staging VPN?');
    assert.equal(number.run.result?.cache, undefined);
    assert.equal(negated.run.result?.cache, undefined);
    assert.equal(chatCalls(stack), calls + 2);
  });

  it('never caches a failed run, and caches masked content only', async () => {
    const question = 'What is the travel reimbursement limit for interns?';
    stack.model.addFaults({ type: 500, count: 5, endpoint: 'chat' });
    const failed = await ask(stack, question);
    const failedRun = await waitForRun<RunBody>(stack, failed.body.id, 90_000);
    assert.equal(failedRun.status, 'failed');
    stack.model.clearFaults();
    const calls = chatCalls(stack);
    const retried = await answer(stack, question);
    assert.equal(retried.status, 202);
    assert.equal(retried.run.result?.cache, undefined);
    assert.equal(chatCalls(stack), calls + 1, 'the failed run left nothing to serve');

    // The input guardrails mask the address before the cache sees the question; what is stored
    // and served holds the placeholder, never the address (unmasked PII is refused: unit tests).
    const pii = 'Should I forward invoices to jane.doe@example.com?';
    await answer(stack, pii);
    const again = await answer(stack, pii);
    assert.ok(!JSON.stringify(again.run).includes('jane.doe@example.com'));
    const raw = await stack.redis.keys(`${stack.config.KEEL_REDIS_PREFIX}cache:*`);
    for (const key of raw) assert.ok(!key.includes('jane') && !key.includes('invoices'), 'no text in cache keys');
  });

  it('bypasses the cache for Cache-Control: no-cache and keeps no-store results out of it', async () => {
    const question = 'When are performance reviews held?';
    await answer(stack, question);
    const calls = chatCalls(stack);
    const fresh = await answer(stack, question, { headers: { 'cache-control': 'no-cache' } });
    assert.equal(fresh.status, 202);
    assert.equal(fresh.run.result?.cache, undefined);
    assert.equal(chatCalls(stack), calls + 1);

    const secret = 'What is the budget code for the offsite?';
    await answer(stack, secret, { headers: { 'cache-control': 'no-store' } });
    const afterNoStore = await answer(stack, secret);
    assert.equal(afterNoStore.status, 202);
    assert.equal(afterNoStore.run.result?.cache, undefined);
  });

  it('runs the model once for 50 concurrent identical requests (single flight)', async function () {
    // 50 workflows at once on a shared 2-core machine: slow, not stuck.
    this.timeout(600_000);
    const question = 'What does the onboarding checklist for new engineers include?';
    const calls = chatCalls(stack);
    const posts = await Promise.all(Array.from({ length: 50 }, () => ask(stack, question)));
    for (const p of posts) assert.ok(p.status === 202 || p.status === 201, `got ${p.status}`);
    const runs = await Promise.all(posts.map((p) => (p.status === 201 ? Promise.resolve(p.body) : waitForRun<RunBody>(stack, p.body.id, 540_000))));
    for (const r of runs) assert.equal(r.status, 'completed');
    assert.equal(chatCalls(stack) - calls, 1, 'exactly one model call');
    const computed = runs.filter((r) => !r.result?.cache);
    assert.equal(computed.length, 1);
    for (const r of runs) {
      assert.equal(r.result?.answer, computed[0]!.result?.answer);
      if (r.result?.cache) assert.equal(r.result.cache.originalRunId, computed[0]!.id);
    }
  });

  it('misses after the corpus changes, and after an admin purge', async () => {
    const question = 'Who approves hardware purchases?';
    await answer(stack, question);
    assert.equal((await ask(stack, question)).status, 201);

    const form = new FormData();
    form.append('file', new Blob(['Hardware purchases are approved by the IT lead.'], { type: 'text/plain' }), 'purchasing.txt');
    const upload = await http<{ ingestRunId: string }>(stack, 'POST', '/v1/documents', { form });
    assert.equal(upload.status, 202);
    assert.equal((await waitForRun(stack, upload.body.ingestRunId, 90_000)).status, 'completed');
    const afterUpload = await answer(stack, question);
    assert.equal(afterUpload.status, 202, 'a new corpus version is a new key');
    assert.equal(afterUpload.run.result?.cache, undefined);
    assert.equal((await ask(stack, question)).status, 201);

    const purge = await http<{ epoch: number; deleted: number | null }>(stack, 'DELETE', '/v1/admin/cache');
    assert.equal(purge.status, 200);
    assert.ok((purge.body.deleted ?? 0) > 0);
    const afterPurge = await ask(stack, question);
    assert.equal(afterPurge.status, 202);
  });

  it('embeds the question once on a miss: the semantic lookup and retrieval share it, each step keeps its ledger row', async () => {
    const form = new FormData();
    form.append('file', new Blob(['Laptops for new hires are ordered by the workplace team two weeks before the start date.'], { type: 'text/plain' }), 'laptops.txt');
    const upload = await http<{ ingestRunId: string }>(stack, 'POST', '/v1/documents', { form });
    assert.equal(upload.status, 202);
    assert.equal((await waitForRun(stack, upload.body.ingestRunId, 90_000)).status, 'completed');

    const embeddings = () => stack.model.counters().embeddings.completed;
    const before = embeddings();
    const { run } = await answer(stack, 'Who orders laptops for new hires?');
    assert.equal(embeddings() - before, 1, 'one embedding call for the lookup and retrieval together');
    const rows = await stack.db.runStep.findMany({ where: { runId: run.id, step: { in: ['cacheLookup', 'retrieveContext'] } }, orderBy: { startedAt: 'asc' } });
    assert.deepEqual(rows.map((r) => [r.step, r.status]), [['cacheLookup', 'completed'], ['retrieveContext', 'completed']]);
    assert.ok((rows[0]!.tokensIn ?? 0) > 0, 'the lookup made the call and is billed for it');
    assert.equal(rows[1]!.tokensIn, 0, 'retrieval reused the vector: no second bill');
    assert.equal(rows[1]!.model, rows[0]!.model, 'retrieval records the model its vector came from');
    const retrieved = (run.result as { retrieved?: Array<{ vectorRank: number | null }> } | null | undefined)?.retrieved ?? [];
    assert.ok(retrieved.some((r) => r.vectorRank !== null), 'vector search ran on the shared embedding');
  });

  it('answers a second extraction of the same source and schema from the cache; another schema, no-cache or a new document version misses', async () => {
    interface ExtractRun {
      id: string;
      status: string;
      error: unknown;
      cache?: { kind: string; originalRunId: string } | null;
      result?: { data: unknown; cache?: { kind: string; originalRunId: string } } | null;
      steps: Array<{ step: string }>;
    }
    const extract = async (input: Record<string, unknown>, headers?: Record<string, string>): Promise<ExtractRun> => {
      const res = await http<{ id: string }>(stack, 'POST', '/v1/runs', { body: { type: 'extract', input }, ...(headers ? { headers } : {}) });
      assert.equal(res.status, 202, JSON.stringify(res.body));
      const run = await waitForRun<ExtractRun>(stack, res.body.id, 90_000);
      assert.equal(run.status, 'completed', JSON.stringify(run.error));
      return run;
    };
    const schema = { type: 'object', properties: { allowance: { type: 'string' } }, required: ['allowance'] };
    const text = 'The daily meal allowance for trips abroad is thirty euros.';
    const first = await extract({ text, schema });
    assert.equal(first.result?.cache, undefined);

    let calls = chatCalls(stack);
    // The same schema with its keys in another order is the same schema.
    const again = await extract({ text, schema: { required: ['allowance'], properties: { allowance: { type: 'string' } }, type: 'object' } });
    assert.equal(again.result?.cache?.kind, 'exact');
    assert.equal(again.result?.cache?.originalRunId, first.id);
    assert.equal(again.cache?.originalRunId, first.id);
    assert.deepEqual(again.result?.data, first.result?.data);
    assert.equal(chatCalls(stack), calls, 'no model call for a cached extraction');
    assert.ok(!again.steps.some((s) => s.step === 'extractSection'));
    assert.ok(again.steps.some((s) => s.step === 'cacheLookup'));

    const otherSchema = await extract({ text, schema: { ...schema, properties: { allowance: { type: 'string' }, currency: { type: 'string' } } } });
    assert.equal(otherSchema.result?.cache, undefined);
    const fresh = await extract({ text, schema }, { 'cache-control': 'no-cache' });
    assert.equal(fresh.result?.cache, undefined);
    assert.ok(chatCalls(stack) >= calls + 2, 'another schema and no-cache both ran the model');

    const uploadVersion = async (content: string, documentId?: string) => {
      const form = new FormData();
      if (documentId) form.append('documentId', documentId);
      form.append('file', new Blob([content], { type: 'text/plain' }), 'allowances.txt');
      const up = await http<{ id: string; ingestRunId: string }>(stack, 'POST', '/v1/documents', { form });
      assert.equal(up.status, 202, JSON.stringify(up.body));
      assert.equal((await waitForRun(stack, up.body.ingestRunId, 90_000)).status, 'completed');
      return up.body.id;
    };
    const documentId = await uploadVersion('Meal allowance abroad: thirty euros a day.');
    const fromDocument = await extract({ documentId, schema });
    assert.equal(fromDocument.result?.cache, undefined);
    calls = chatCalls(stack);
    assert.equal((await extract({ documentId, schema })).result?.cache?.originalRunId, fromDocument.id);
    assert.equal(chatCalls(stack), calls);
    await uploadVersion('Meal allowance abroad: forty euros a day.', documentId);
    const newVersion = await extract({ documentId, schema });
    assert.equal(newVersion.result?.cache, undefined, "a new version is another source text");
    assert.ok(chatCalls(stack) > calls);
  });

  it('keeps the tenant\'s opt-out', async () => {
    const settings = await http<{ enabled: boolean }>(stack, 'PUT', '/v1/admin/cache/settings', { body: { enabled: false } });
    assert.equal(settings.body.enabled, false);
    const question = 'Is there a company gym?';
    await answer(stack, question);
    assert.equal((await ask(stack, question)).status, 202);
    await http(stack, 'PUT', '/v1/admin/cache/settings', { body: { enabled: true } });
  });
});

describe('result cache: Redis down', function () {
  this.timeout(240_000);
  let stack: TestStack;
  let redis: KeelProcess;
  let port: number;

  const startRedis = async () => {
    redis = spawnRedis(port);
    const { Redis } = await import('ioredis');
    await eventually(async () => {
      const probe = new Redis(port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      probe.on('error', () => undefined);
      try {
        await probe.connect();
        return (await probe.ping()) === 'PONG' ? true : undefined;
      } finally {
        probe.disconnect();
      }
    }, 'redis-server to accept connections');
  };

  before(async () => {
    port = await freePort();
    await startRedis();
    stack = await startStack({ label: 'cache-redis-down', env: { REDIS_URL: `redis://127.0.0.1:${port}` } });
  });
  after(async () => {
    await stack?.stop();
    await redis?.kill('SIGTERM');
  });

  it('serves requests uncached while Redis is down and caches again once it is back', async () => {
    const question = 'What is the dress code?';
    await answer(stack, question);
    assert.equal((await ask(stack, question)).status, 201);

    await redis.kill('SIGTERM');
    const calls = chatCalls(stack);
    const down = await answer(stack, question);
    assert.equal(down.status, 202, 'served, uncached');
    assert.equal(down.run.result?.cache, undefined);
    assert.equal(chatCalls(stack), calls + 1);
    assert.ok((await metric(stack, 'api', 'keel_cache_errors_total', {})) + (await metric(stack, 'worker', 'keel_cache_errors_total', {})) > 0);

    await startRedis();
    const back = 'Where is the lost and found?';
    await eventually(async () => {
      await answer(stack, back);
      return (await ask(stack, back)).status === 201 ? true : undefined;
    }, 'caching to resume', 60_000);
  });
});
