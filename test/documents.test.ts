import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { judgeScore } from '../src/model-server/answer';
import { REFINE_GOOD_ENOUGH } from '../src/workflows/strategies';
import { recordHistory } from './support/histories';
import { http, startStack, waitForRun as waitForRunIn, type TestStack } from './support/stack';
import { uploadDocument } from './support/uploads';

const FIXTURES = path.join(__dirname, 'fixtures/documents');

interface RunBody {
  id: string;
  status: string;
  result: Record<string, unknown> | null;
  error: { type: string; message: string; step?: string; details?: { errors?: string[]; reason?: string } } | null;
  steps: Array<{ step: string; attempts: Array<{ attempt: number; status: string; tokensIn: number | null }> }>;
}

const waitForRun = (stack: Pick<TestStack, 'baseUrl' | 'apiKey'>, id: string) => waitForRunIn<RunBody>(stack, id, 60_000);

const upload = uploadDocument;

async function startRun(stack: TestStack, body: unknown): Promise<string> {
  const res = await http<{ id: string }>(stack, 'POST', '/v1/runs', { body });
  assert.equal(res.status, 202, JSON.stringify(res.body));
  return res.body.id;
}

const stepsOf = (run: RunBody, name: string) => run.steps.find((s) => s.step === name)?.attempts ?? [];

describe('documents: upload → ingest → retrieval → strategies → extraction', function () {
  this.timeout(180_000);
  let stack: TestStack;
  let handbook: Buffer;
  let handbookId: string;

  before(async () => {
    stack = await startStack({
      label: 'documents',
      env: { KEEL_EMBEDDING_MODEL: 'keel-offline-embed-1', KEEL_MAX_UPLOAD_BYTES: '200000', KEEL_CHUNK_MAX_TOKENS: '40', KEEL_CHUNK_OVERLAP_TOKENS: '8' },
    });
    handbook = await readFile(path.join(FIXTURES, 'handbook.pdf'));
  });
  after(async () => {
    await stack?.stop();
  });
  beforeEach(() => {
    stack.model.reset();
  });

  it('ingests a multi-page PDF and answers a page-3 question citing a page-3 chunk', async () => {
    const up = await upload(stack, handbook, 'handbook.pdf', 'application/octet-stream');
    assert.equal(up.status, 202, JSON.stringify(up.body));
    handbookId = up.body.id;
    const ingest = await waitForRun(stack, up.body.ingestRunId);
    assert.equal(ingest.status, 'completed', JSON.stringify(ingest.error));
    assert.deepEqual(ingest.steps.map((s) => s.step), ['extractText', 'chunkText', 'embedChunks', 'publishDocument', 'storeResult']);
    assert.equal(ingest.result?.pages, 4);
    assert.equal(ingest.result?.embedded, true);
    assert.ok(stepsOf(ingest, 'embedChunks')[0]?.tokensIn, 'embedding tokens are ledgered');

    const doc = await http<{ status: string; pages: number; chunks: number; versions: Array<{ sha256: string; mediaType: string }> }>(stack, 'GET', `/v1/documents/${handbookId}`);
    assert.equal(doc.body.status, 'ready');
    assert.equal(doc.body.pages, 4);
    assert.ok(doc.body.chunks >= 4);
    assert.equal(doc.body.versions[0]?.mediaType, 'application/pdf', 'typed by content, not by the declared octet-stream');

    const chunks = await stack.db.chunk.findMany({ where: { documentId: handbookId }, orderBy: { ordinal: 'asc' } });
    assert.ok(chunks.every((c) => c.embedding.length === 256));
    assert.deepEqual([...new Set(chunks.map((c) => c.page))], [1, 2, 3, 4]);
    assert.equal(chunks.find((c) => c.page === 3)?.heading, 'Travel policy');

    const id = await startRun(stack, { type: 'answer', input: { question: 'What is the daily meal allowance abroad?' } });
    const run = await waitForRun(stack, id);
    assert.equal(run.status, 'completed', JSON.stringify(run.error));
    assert.deepEqual(run.steps.map((s) => s.step), ['guardInput', 'cacheLookup', 'retrieveContext', 'screenContext', 'generate', 'guardOutput', 'cacheStore', 'storeResult']);
    const result = run.result as { answer: string; citations: Array<{ chunkId: string; page: number; documentId: string }> };
    assert.match(result.answer, /forty-two euros/);
    assert.ok(result.citations.length > 0, result.answer);
    const cited = await stack.db.chunk.findUnique({ where: { id: result.citations[0]!.chunkId } });
    assert.equal(cited?.page, 3);
    assert.equal(result.citations[0]!.page, 3);
    assert.equal(result.citations[0]!.documentId, handbookId);
    const retrieved = (run.result as { retrieved: Array<{ chunkId: string; score: number; lexicalRank: number | null; vectorRank: number | null }> }).retrieved;
    assert.equal(retrieved[0]?.chunkId, result.citations[0]!.chunkId, 'the best-fused chunk is the one cited');
    assert.ok(retrieved[0].lexicalRank !== null && retrieved[0].vectorRank !== null, 'found by both retrievers');
    assert.ok(retrieved.every((r, i) => i === 0 || r.score <= retrieved[i - 1]!.score), 'best first');
    await recordHistory('retrieval', stack.temporal.workflow.getHandle(id));
    await recordHistory('pdf', stack.temporal.workflow.getHandle(up.body.ingestRunId), 'ingest');
  });

  it('stores the same bytes once: a second upload is the same document and version', async () => {
    const again = await upload(stack, handbook, 'copy.pdf', 'application/pdf');
    assert.equal(again.status, 200);
    assert.equal(again.body.deduplicated, true);
    assert.equal(again.body.id, handbookId);
    assert.equal(await stack.db.documentVersion.count({ where: { documentId: handbookId } }), 1);
    const content = await fetch(`${stack.baseUrl}/v1/documents/${handbookId}/content`, { headers: { authorization: `Bearer ${stack.apiKey}` } });
    assert.equal(content.status, 200);
    assert.ok(Buffer.from(await content.arrayBuffer()).equals(handbook));
  });

  it('answers 409, never 500, to an operator action an ingest run does not support (resume while it runs)', async () => {
    // Embedding calls take a while, so the run is still in progress when the resume arrives.
    stack.model.setLatency(1500);
    const up = await upload(stack, Buffer.from('Ingest runs have no pause: nothing waits for an operator.'), 'no-pause.txt', 'text/plain');
    assert.equal(up.status, 202);
    const ingestRunId = up.body.ingestRunId;
    const resume = await http<{ type: string; status: number }>(stack, 'POST', `/v1/runs/${ingestRunId}/resume`, { body: { action: 'skip', reason: 'try it' } });
    assert.equal(resume.status, 409, JSON.stringify(resume.body));
    assert.match(resume.body.type, /run-not-paused$/);
    assert.equal((await waitForRunIn(stack, ingestRunId, 60_000)).status, 'completed');
  });

  it('keeps tenants apart: another tenant neither sees nor retrieves the document', async () => {
    const other = await stack.addTenant('tenant-docs-b');
    const asB = { baseUrl: stack.baseUrl, apiKey: other.apiKey };
    assert.equal((await http(asB, 'GET', `/v1/documents/${handbookId}`)).status, 404);
    const res = await http<{ id: string }>(asB, 'POST', '/v1/runs', { body: { type: 'answer', input: { question: 'What is the daily meal allowance abroad?' } } });
    const run = await waitForRun({ ...stack, apiKey: other.apiKey }, res.body.id);
    assert.equal(run.status, 'completed');
    assert.deepEqual((run.result as { citations: unknown[] }).citations, []);
    assert.doesNotMatch((run.result as { answer: string }).answer, /forty-two/);
  });

  it('fails encrypted, corrupt and empty files with a non-retryable, readable reason and indexes nothing', async () => {
    const corrupt = Buffer.concat([handbook.subarray(0, 400), Buffer.from('\n%%EOF\n')]);
    const blank = await readFile(path.join(FIXTURES, 'blank.pdf'));
    const encrypted = await readFile(path.join(FIXTURES, 'encrypted.pdf'));
    for (const [bytes, reason] of [[encrypted, 'encrypted'], [corrupt, 'corrupt'], [blank, 'empty']] as const) {
      const up = await upload(stack, bytes, `${reason}.pdf`, 'application/pdf');
      assert.equal(up.status, 202);
      const run = await waitForRun(stack, up.body.ingestRunId);
      assert.equal(run.status, 'failed');
      assert.equal(run.error?.type, 'DocumentRejected');
      assert.equal(run.error?.details?.reason, reason);
      assert.equal(stepsOf(run, 'extractText').length, 1, 'not retried');
      const doc = await http<{ status: string; error: { message: string } }>(stack, 'GET', `/v1/documents/${up.body.id}`);
      assert.equal(doc.body.status, 'failed');
      assert.ok(doc.body.error.message.length > 10);
      assert.equal(await stack.db.chunk.count({ where: { documentId: up.body.id } }), 0);
    }
  });

  it('ingests DOCX, Markdown, HTML, CSV and JSON by content', async () => {
    const docx = await upload(stack, await readFile(path.join(FIXTURES, 'security.docx')), 'security.bin', 'application/octet-stream');
    const md = await upload(stack, Buffer.from('# Parking\n\nVisitors park in the north garage, level minus two.\n'), 'parking.md', 'text/markdown');
    const html = await upload(stack, Buffer.from('<!doctype html><html><body><h1>Canteen</h1><p>The canteen serves lunch from noon until two.</p></body></html>'), 'canteen.html', 'text/html');
    const csv = await upload(stack, Buffer.from('room,capacity\nAtlas,12\nBoreal,6\n'), 'rooms.csv', 'text/csv');
    const json = await upload(stack, Buffer.from('{"wifi":{"network":"keel-guest","password rotation":"monthly"}}'), 'wifi.json', 'application/json');
    for (const up of [docx, md, html, csv, json]) {
      assert.equal(up.status, 202, JSON.stringify(up.body));
      assert.equal((await waitForRun(stack, up.body.ingestRunId)).status, 'completed');
    }
    const heading = await stack.db.chunk.findFirst({ where: { documentId: html.body.id } });
    assert.equal(heading?.heading, 'Canteen');
    assert.match(heading?.text ?? '', /lunch from noon/);
    const word = await stack.db.chunk.findFirst({ where: { documentId: docx.body.id } });
    assert.equal(word?.heading, 'Security');
    assert.match(word?.text ?? '', /Badges must be worn/);
    const version = await stack.db.documentVersion.findFirst({ where: { documentId: docx.body.id } });
    assert.equal(version?.mediaType, 'application/vnd.openxmlformats-officedocument.wordprocessingml.document');
  });

  it('best_of_n records n candidates and one judgement, and the best-scored candidate wins', async () => {
    const id = await startRun(stack, {
      type: 'answer',
      input: { question: 'How long are newcomers paired with a mentor?' },
      options: { strategy: 'best_of_n', n: 3, temperature: 0.4 },
    });
    const run = await waitForRun(stack, id);
    assert.equal(run.status, 'completed', JSON.stringify(run.error));
    assert.equal(stepsOf(run, 'generateCandidate').length, 3);
    assert.equal(stepsOf(run, 'judgeCandidates').length, 1);
    const trace = (run.result as { strategy: { candidates: Array<{ score: number; temperature: number; answer: string }>; winner: number }; answer: string }).strategy;
    assert.equal(trace.candidates.length, 3);
    assert.deepEqual(trace.candidates.map((c) => c.temperature), [0.4, 0.6, 0.8]);
    const best = Math.max(...trace.candidates.map((c) => c.score));
    assert.equal(trace.candidates[trace.winner]?.score, best);
    assert.equal((run.result as { answer: string }).answer, trace.candidates[trace.winner]?.answer);
    // n candidate calls and n judge calls, nothing else.
    assert.equal(stack.model.counters().chat.completed, 6);
    await recordHistory('best-of-n', stack.temporal.workflow.getHandle(id));
  });

  it('refine stops at the round limit', async () => {
    // A tenant without documents: the offline model's draft is then a fixed text whose judge
    // score is known, and revising does not change it, so no round reaches the early-stop bar.
    const other = await stack.addTenant('tenant-refine');
    const asOther = { ...stack, apiKey: other.apiKey };
    const question = 'How quickly is broken equipment replaced?';
    assert.ok(judgeScore(`Offline model answer to: "${question}"`) < REFINE_GOOD_ENOUGH, 'pick a question the offline judge scores low');
    const res = await http<{ id: string }>(asOther, 'POST', '/v1/runs', {
      body: { type: 'answer', input: { question }, options: { strategy: 'refine', rounds: 2 } },
    });
    assert.equal(res.status, 202);
    const run = await waitForRun(asOther, res.body.id);
    assert.equal(run.status, 'completed', JSON.stringify(run.error));
    const trace = (run.result as { strategy: { rounds: Array<{ score: number; revised: boolean }>; stoppedBy: string } }).strategy;
    assert.equal(trace.stoppedBy, 'round-limit');
    assert.deepEqual(trace.rounds.map((r) => r.revised), [true, true]);
    assert.equal(stepsOf(run, 'critiqueDraft').length, 2);
    assert.equal(stepsOf(run, 'reviseDraft').length, 2);
    assert.equal(stepsOf(run, 'generate').length, 1);
    assert.equal(stack.model.counters().chat.completed, 5, 'draft + 2 critiques + 2 revisions');
    await recordHistory('refine', stack.temporal.workflow.getHandle(res.body.id));
  });

  describe('extraction', () => {
    const schema = {
      type: 'object',
      properties: { allowance: { type: 'string' }, sources: { type: 'array', items: { type: 'string' } } },
      required: ['allowance'],
      additionalProperties: false,
    };

    it('returns output valid against a registered schema', async () => {
      const put = await http(stack, 'PUT', '/v1/schemas/travel', { body: { schema } });
      assert.equal(put.status, 200);
      const id = await startRun(stack, { type: 'extract', input: { documentId: handbookId, schemaName: 'travel' } });
      const run = await waitForRun(stack, id);
      assert.equal(run.status, 'completed', JSON.stringify(run.error));
      const result = run.result as { data: { allowance: string }; repaired: boolean; sections: number };
      assert.equal(typeof result.data.allowance, 'string');
      assert.equal(result.repaired, false);
      assert.equal(stepsOf(run, 'repairExtraction').length, 0);
    });

    it('repairs an invalid first answer by feeding back the validation errors', async () => {
      stack.model.addFaults({ type: 'offschema', count: 1, endpoint: 'chat' });
      const id = await startRun(stack, { type: 'extract', input: { text: 'The daily meal allowance abroad is forty-two euros.', schema } });
      const run = await waitForRun(stack, id);
      assert.equal(run.status, 'completed', JSON.stringify(run.error));
      assert.equal((run.result as { repaired: boolean }).repaired, true);
      assert.equal(stepsOf(run, 'extractSection').length, 1);
      assert.equal(stepsOf(run, 'repairExtraction').length, 1);
      await recordHistory('repaired', stack.temporal.workflow.getHandle(id), 'extract');
    });

    it('fails with the validation errors when the repair is invalid too', async () => {
      stack.model.addFaults({ type: 'offschema', count: 2, endpoint: 'chat' });
      // Another text than the test above: that extraction completed, so the same one is now a cache hit.
      const id = await startRun(stack, { type: 'extract', input: { text: 'The daily meal allowance abroad is forty-three euros.', schema } });
      const run = await waitForRun(stack, id);
      assert.equal(run.status, 'failed');
      assert.equal(run.error?.type, 'ExtractionInvalid');
      assert.ok(run.error?.details?.errors?.some((e) => /must have required property 'allowance'/.test(e)), JSON.stringify(run.error));
      assert.ok(run.error?.details?.errors?.some((e) => /must NOT have additional properties/.test(e)));
      assert.equal(stepsOf(run, 'repairExtraction').length, 1, 'one bounded repair, not a retry loop');
    });

    it('splits a long text into sections and merges them', async () => {
      const listSchema = { type: 'object', properties: { sources: { type: 'array', items: { type: 'string' } } }, required: ['sources'] };
      const paragraph = (i: number) => Array.from({ length: 400 }, (_, j) => `word${i}x${j}`).join(' ');
      const text = Array.from({ length: 9 }, (_, i) => paragraph(i)).join('\n\n');
      const id = await startRun(stack, { type: 'extract', input: { text, schema: listSchema } });
      const run = await waitForRun(stack, id);
      assert.equal(run.status, 'completed', JSON.stringify(run.error));
      assert.equal((run.result as { sections: number }).sections, 2);
      assert.equal(stepsOf(run, 'extractSection').length, 2);
    });
  });

  it('rejects bad input with problem+json and stores nothing', async () => {
    const before = { docs: await stack.db.document.count(), runs: await stack.db.run.count() };
    const png = Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478da6364f8ffbf1e000502027f3f6e9b0a0000000049454e44ae426082', 'hex');
    const wrongType = await upload(stack, png, 'notes.md', 'text/markdown');
    assert.equal(wrongType.status, 415);
    assert.equal(wrongType.contentType, 'application/problem+json; charset=utf-8');
    assert.equal(wrongType.body.type, 'https://keel.dev/problems/unsupported-media-type');

    const big = await upload(stack, Buffer.alloc(300_000, 'a'), 'big.txt', 'text/plain');
    assert.equal(big.status, 413);
    assert.equal(big.body.type, 'https://keel.dev/problems/payload-too-large');

    const notMultipart = await http(stack, 'POST', '/v1/documents', { body: { file: 'x' } });
    assert.equal(notMultipart.status, 415);

    const unknownSchema = await http<{ type: string; errors: Array<{ path: string }> }>(stack, 'POST', '/v1/runs', {
      body: { type: 'extract', input: { text: 'hello', schemaName: 'no-such-schema' } },
    });
    assert.equal(unknownSchema.status, 422);
    assert.equal(unknownSchema.body.errors[0]?.path, 'input.schemaName');

    const empty = await http<{ type: string }>(stack, 'POST', '/v1/runs', { body: { type: 'answer', input: { question: '   ' } } });
    assert.equal(empty.status, 400);
    assert.equal(empty.body.type, 'https://keel.dev/problems/validation-error');

    const tooMany = await http<{ errors: Array<{ path: string }> }>(stack, 'POST', '/v1/runs', {
      body: { type: 'answer', input: { question: 'Hi?' }, options: { strategy: 'best_of_n', n: 9 } },
    });
    assert.equal(tooMany.status, 422);
    assert.equal(tooMany.body.errors[0]?.path, 'options.n');

    assert.deepEqual({ docs: await stack.db.document.count(), runs: await stack.db.run.count() }, before);
  });

  describe('deletion', () => {
    it('deletes a document: gone from the corpus, corpus version bumped', async () => {
      const beforeVersion = (await stack.db.corpusVersion.findUnique({ where: { tenantId: stack.tenantId } }))?.version ?? 0;
      const del = await http<{ corpusVersion: number }>(stack, 'DELETE', `/v1/documents/${handbookId}`);
      assert.equal(del.status, 200);
      assert.equal(del.body.corpusVersion, beforeVersion + 1);
      assert.equal((await http(stack, 'GET', `/v1/documents/${handbookId}`)).status, 404);
      assert.equal(await stack.db.chunk.count({ where: { documentId: handbookId } }), 0);
    });
  });
});
