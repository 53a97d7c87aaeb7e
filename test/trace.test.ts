import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createApiKey } from '../src/auth/key-admin';
import { promptVersion } from '../src/llm/prompt-templates';
import { releaseBucket } from '../src/trace/release';
import type { RunTrace } from '../src/schemas/trace';
import { http, startStack, waitForRun, type TestStack } from './support/stack';

const PROMPTS = path.join(__dirname, '..', 'prompts');

async function upload(stack: TestStack, text: string, name: string): Promise<void> {
  const form = new FormData();
  form.append('file', new Blob([text], { type: 'text/plain' }), name);
  const res = await http<{ ingestRunId: string }>(stack, 'POST', '/v1/documents', { form });
  assert.equal(res.status, 202, JSON.stringify(res.body));
  const ingest = await waitForRun(stack, res.body.ingestRunId, 60_000);
  assert.equal(ingest.status, 'completed');
}

async function answer(stack: TestStack, question: string, options: Record<string, unknown> = {}): Promise<string> {
  const res = await http<{ id: string }>(stack, 'POST', '/v1/runs', { body: { type: 'answer', input: { question }, options } });
  assert.equal(res.status, 202, JSON.stringify(res.body));
  return res.body.id;
}

async function trace(stack: TestStack, id: string): Promise<RunTrace> {
  const res = await http<RunTrace>(stack, 'GET', `/v1/runs/${id}/trace`);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body;
}

describe('traceability: versions, lineage and release control', function () {
  this.timeout(180_000);
  let stack: TestStack;
  let promptsDir: string;

  before(async () => {
    // The run's prompts come from a copy, so the test can edit a template as an engineer would.
    promptsDir = await mkdtemp(path.join(tmpdir(), 'keel-prompts-'));
    await cp(PROMPTS, promptsDir, { recursive: true });
    stack = await startStack({ label: 'trace', env: { KEEL_PROMPTS_DIR: promptsDir, KEEL_BUILD_ID: 'test-build-1', KEEL_MAX_INFLIGHT_RUNS_PER_TENANT: '1000' } });
    await upload(stack, 'Refunds are accepted within 30 days of purchase. Shipping is free above 50 euros.', 'policy.txt');
  });
  after(async () => {
    await stack?.stop();
  });

  it('traces a best_of_n run: every candidate, the judge scores, and every version that shaped it', async () => {
    const id = await answer(stack, 'How long is the refund window?', { strategy: 'best_of_n', n: 3 });
    const run = await waitForRun(stack, id, 60_000);
    assert.equal(run.status, 'completed');
    const t = await trace(stack, id);

    assert.equal(t.versions.apiBuild, 'test-build-1');
    assert.deepEqual(t.versions.workerBuilds, ['test-build-1']);
    assert.equal(t.versions.corpusVersion, 1, 'one document was published before the run');
    assert.deepEqual(t.versions.release, { policyVersion: null, arm: 'stable', percent: 0 });
    const ids = t.versions.prompts.map((p) => p.id).sort();
    assert.deepEqual(ids, ['answer', 'judge']);
    const answerFile = await readFile(path.join(promptsDir, 'answer.md'), 'utf8');
    assert.equal(t.versions.prompts.find((p) => p.id === 'answer')?.version, promptVersion(answerFile));
    assert.equal(t.versions.modelConfigs.length, 1);
    assert.equal(t.versions.modelConfigs[0]!.model, 'keel-offline-1');
    assert.equal(t.versions.modelConfigs[0]!.endpoint, new URL(stack.config.llm.baseURL).origin);

    const strategy = t.strategy as { name: string; candidates: Array<{ index: number; answer: string; score: number }>; winner: number };
    assert.equal(strategy.name, 'best_of_n');
    assert.equal(strategy.candidates.length, 3);
    for (const c of strategy.candidates) assert.ok(Number.isInteger(c.score) && c.score >= 1 && c.score <= 10, `candidate ${c.index} has a judge score`);
    const candidates = t.steps.filter((s) => s.step === 'generateCandidate');
    assert.equal(candidates.length, 3, 'each candidate is its own traced step');
    const judge = t.steps.find((s) => s.step === 'judgeCandidates');
    assert.ok(judge, 'the judgement is a traced step');
    for (const step of [...candidates, judge]) {
      const done = step.attempts.find((a) => a.status === 'completed');
      assert.ok(done?.lineage?.modelConfig && done.lineage.build === 'test-build-1' && done.lineage.prompts?.length, `${step.step} records its versions`);
    }

    assert.ok(t.retrieved.length > 0, 'retrieved chunks are in the trace');
    const doc = await stack.db.documentVersion.findFirstOrThrow({ where: { tenantId: stack.tenantId } });
    for (const c of t.retrieved) assert.equal(c.versionId, doc.id, 'each chunk names its document version');
    assert.equal(t.executions.length, 1);
    assert.match(t.executions[0]!.temporalUi, new RegExp(`/workflows/${id}/${t.executions[0]!.workflowRunId}/history$`));
    assert.ok(t.totals.attempts >= 6 && t.totals.tokensIn > 0);
  });

  it('records a new prompt version on the next run after the template file changes, and keeps the old one in the old trace', async () => {
    const before = await answer(stack, 'Is shipping free?');
    assert.equal((await waitForRun(stack, before, 60_000)).status, 'completed');
    const file = path.join(promptsDir, 'answer.md');
    const original = await readFile(file, 'utf8');
    const edited = original.replace('a careful assistant', 'a careful, brief assistant');
    assert.notEqual(edited, original);
    await writeFile(file, edited);
    try {
      const after = await answer(stack, 'Is shipping free?');
      assert.equal((await waitForRun(stack, after, 60_000)).status, 'completed');
      const versionIn = async (id: string) => (await trace(stack, id)).versions.prompts.find((p) => p.id === 'answer')?.version;
      assert.equal(await versionIn(before), promptVersion(original));
      assert.equal(await versionIn(after), promptVersion(edited));
      assert.notEqual(promptVersion(original), promptVersion(edited));
    } finally {
      await writeFile(file, original);
    }
  });

  it('routes a canary share of runs to a candidate prompt variant, records each arm, and rolls back by a new policy version', async () => {
    await writeFile(path.join(promptsDir, 'answer@concise.md'), (await readFile(path.join(promptsDir, 'answer.md'), 'utf8')).replace('Answer the question', 'Answer briefly the question'));
    const admin = { baseUrl: stack.baseUrl, apiKey: (await createApiKey(stack.db, stack.tenantId, 'release admin', ['admin'])).key };
    const missing = await http(admin, 'PUT', '/v1/release-policy', { body: { candidate: { prompts: { answer: 'nonexistent' } }, percent: 20, reason: 'typo' } });
    assert.equal(missing.status, 422, 'a variant without a file is refused');
    const set = await http<{ current: { version: number; percent: number; actor: string } }>(admin, 'PUT', '/v1/release-policy', {
      body: { candidate: { prompts: { answer: 'concise' } }, percent: 20, reason: 'try the concise prompt' },
    });
    assert.equal(set.status, 200, JSON.stringify(set.body));
    assert.equal(set.body.current.percent, 20);

    const ids: string[] = [];
    for (let i = 0; i < 100; i++) ids.push(await answer(stack, `Canary question ${i}: is shipping free?`));
    const rows = await stack.db.run.findMany({ where: { id: { in: ids } }, select: { id: true, versions: true, options: true } });
    const arms = rows.map((r) => (r.versions as { release: { arm: string; policyVersion: number } }).release);
    for (const a of arms) {
      assert.ok(a.arm === 'stable' || a.arm === 'candidate', 'every run names its arm');
      assert.equal(a.policyVersion, set.body.current.version);
    }
    const candidates = rows.filter((r) => (r.versions as { release: { arm: string } }).release.arm === 'candidate');
    // Binomial(100, 0.2): mean 20, sd 4; ±3 sd.
    assert.ok(candidates.length >= 8 && candidates.length <= 32, `${candidates.length} of 100 runs took the candidate arm`);
    // The arm is a function of the run id: the same split the bucket says.
    assert.deepEqual(new Set(candidates.map((r) => r.id)), new Set(ids.filter((id) => releaseBucket(id) < 20)));

    const one = candidates[0]!.id;
    assert.equal((await waitForRun(stack, one, 90_000)).status, 'completed');
    const t = await trace(stack, one);
    const variant = await readFile(path.join(promptsDir, 'answer@concise.md'), 'utf8');
    assert.deepEqual(t.versions.prompts.find((p) => p.id === 'answer'), { id: 'answer', variant: 'concise', version: promptVersion(variant) });
    assert.equal(t.versions.release?.arm, 'candidate');

    const rollback = await http<{ current: { version: number; percent: number }; history: Array<{ version: number; actor: string; reason: string }> }>(admin, 'PUT', '/v1/release-policy', {
      body: { candidate: { prompts: { answer: 'concise' } }, percent: 0, reason: 'rollback: answers too short' },
    });
    assert.equal(rollback.status, 200);
    assert.equal(rollback.body.current.version, set.body.current.version + 1);
    assert.deepEqual(rollback.body.history.map((h) => h.reason), ['rollback: answers too short', 'try the concise prompt']);
    assert.ok(rollback.body.history.every((h) => h.actor.startsWith('key:')), 'each version names who changed it');
    const later = await answer(stack, 'After the rollback: is shipping free?');
    const laterRow = await stack.db.run.findUniqueOrThrow({ where: { id: later } });
    assert.deepEqual((laterRow.versions as { release: unknown }).release, { policyVersion: rollback.body.current.version, arm: 'stable', percent: 0 });
  });
});
