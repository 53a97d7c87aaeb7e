import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createApiKey } from '../src/auth/key-admin';
import { compareEvaluations } from '../src/evals/compare';
import { parseDataset } from '../src/evals/dataset';
import { runEvaluation } from '../src/evals/runner';
import { passed, scoreCase } from '../src/evals/scorers';
import type { EvaluationSummary, EvaluationView } from '../src/schemas/evals';
import { http, startStack, type TestStack } from './support/stack';

const ROOT = path.join(__dirname, '..');
const GOLDEN = path.join(ROOT, 'evals/golden/handbook.jsonl');

describe('evaluations: golden sets through the real pipeline, compared across versions', function () {
  this.timeout(240_000);
  let stack: TestStack;
  let promptsDir: string;

  before(async () => {
    promptsDir = await mkdtemp(path.join(tmpdir(), 'keel-eval-prompts-'));
    await cp(path.join(ROOT, 'prompts'), promptsDir, { recursive: true });
    stack = await startStack({ label: 'evals', env: { KEEL_PROMPTS_DIR: promptsDir } });
  });
  after(async () => {
    await stack?.stop();
  });

  it('scores expectations: exact, contains, json fields, citation grounding, judge threshold', () => {
    const out = { text: 'Refunds take 30 days [c1]', data: { a: 'Thirty days', n: 3, nested: { b: 'x y' } }, citations: ['c1'], retrieved: ['c1', 'c2'] };
    assert.deepEqual(scoreCase({ exact: 'refunds  take 30 DAYS [c1]', contains: ['30 days', 'weeks'], json: { a: 'thirty', n: 3, nested: { b: 'y' } }, grounded: true }, out), {
      exact: 1,
      contains: 0.5,
      json: 1,
      grounded: 1,
    });
    assert.equal(scoreCase({ grounded: true }, { ...out, citations: ['c9'] }).grounded, 0, 'a citation outside the retrieved context is not grounded');
    assert.equal(scoreCase({ json: { n: 4 } }, out).json, 0);
    assert.equal(passed({ contains: 1, judge: 0.7 }), true);
    assert.equal(passed({ contains: 1, judge: 0.6 }), false);
    assert.throws(() => parseDataset('{"id":"x","type":"answer","input":{"question":"q"},"expect":{}}'), /expect something/);
  });

  it('runs the shipped golden set, stores it with its versions, and compare flags a worse prompt version as a regression', async () => {
    const target = { baseUrl: stack.baseUrl, apiKey: stack.apiKey };
    const progress: number[] = [];
    const good = await runEvaluation({ target, datasetPath: GOLDEN, name: 'baseline', onProgress: (done) => progress.push(done) });
    const cases = parseDataset(await readFile(GOLDEN, 'utf8')).cases;
    assert.equal(good.cases.length, cases.length);
    assert.deepEqual(progress, cases.map((_, i) => i + 1));
    assert.equal(good.metrics.passRate, 1, JSON.stringify(good.cases.filter((c) => !c.passed)));
    assert.ok(good.versions.prompts.some((p) => p.startsWith('answer:')), 'the version set names the answer prompt');
    assert.equal(await stack.db.evaluationCase.count({ where: { evaluationId: good.id } }), cases.length, 'every case is stored');

    // A deliberately worse prompt: the answer template no longer shows the model the documents.
    const original = await readFile(path.join(promptsDir, 'answer.md'), 'utf8');
    await writeFile(path.join(promptsDir, 'answer@nodocs.md'), original.replace('{{documents}}', ''));
    const admin = { baseUrl: stack.baseUrl, apiKey: (await createApiKey(stack.db, stack.tenantId, 'eval admin', ['admin'])).key };
    const policy = await http(admin, 'PUT', '/v1/release-policy', { body: { candidate: { prompts: { answer: 'nodocs' } }, percent: 100, reason: 'evaluate the no-documents prompt' } });
    assert.equal(policy.status, 200);
    const worse = await runEvaluation({ target, datasetPath: GOLDEN, name: 'candidate' });
    assert.ok(worse.metrics.passRate < good.metrics.passRate, `pass rate ${worse.metrics.passRate} vs ${good.metrics.passRate}`);

    const cmp = compareEvaluations(good, worse);
    assert.equal(cmp.sameDataset, true);
    const answerCases = cases.filter((c) => c.type === 'answer').map((c) => c.id).sort();
    assert.deepEqual(cmp.regressed.map((r) => r.caseId).sort(), answerCases, 'every answer case regressed; the extraction did not');
    assert.ok(cmp.versionChanges.some((v) => v.what === 'prompts' && v.b.some((p) => p.startsWith('answer@nodocs:'))), 'the changed prompt version is named');
    assert.ok(cmp.metrics.find((m) => m.metric === 'passRate')!.delta! < 0);

    const list = await http<{ data: EvaluationSummary[] }>(stack, 'GET', '/v1/evals');
    assert.deepEqual(list.body.data.map((e) => e.id), [worse.id, good.id]);
    const one = await http<EvaluationView>(stack, 'GET', `/v1/evals/${good.id}`);
    assert.equal(one.status, 200);
    assert.deepEqual(one.body.cases.map((c) => c.caseId).sort(), cases.map((c) => c.id).sort());
    const other = await stack.addTenant('tenant-b');
    assert.equal((await http({ baseUrl: stack.baseUrl, apiKey: other.apiKey }, 'GET', `/v1/evals/${good.id}`)).status, 404, "another tenant's evaluation is a 404");
  });
});
