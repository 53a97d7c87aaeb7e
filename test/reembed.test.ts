import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import OpenAI from 'openai';
import { EmbeddingModelMismatch, reembedTenant } from '../src/documents/reembed';
import { HASHING_EMBEDDING_MODEL } from '../src/llm/embed';
import { SENTENCE_EMBEDDING_MODEL } from '../src/model-server/sentence-embedder';
import { startModelServer, type ModelServer } from '../src/model-server/server';
import { http, startStack, waitForRun, type TestStack } from './support/stack';

type As = Pick<TestStack, 'baseUrl' | 'apiKey'>;

async function upload(as: As, text: string, documentId?: string): Promise<{ id: string; versionId: string }> {
  const form = new FormData();
  if (documentId) form.append('documentId', documentId);
  form.append('file', new Blob([text], { type: 'text/markdown' }), 'notes.md');
  const up = await http<{ id: string; versionId: string; ingestRunId: string }>(as, 'POST', '/v1/documents', { form });
  assert.equal(up.status, 202, JSON.stringify(up.body));
  const ingest = await waitForRun<{ status: string; error: unknown }>(as, up.body.ingestRunId, 60_000);
  assert.equal(ingest.status, 'completed', JSON.stringify(ingest.error));
  return up.body;
}

const sections = (topic: string, n: number) =>
  `# ${topic}\n\n${Array.from({ length: n }, (_, i) => `## ${topic} ${i + 1}\n\nRule ${i + 1} about ${topic}: employees follow the ${topic} procedure step ${i + 1} and file the form.\n`).join('\n')}`;

/**
 * `npm run reembed` against real Postgres and the offline model server: documents ingested with
 * the hashing vectors are moved to multilingual-e5-small, per current version, resumably and
 * idempotently, without touching another tenant or an old version.
 */
describe('reembed: moving a tenant to a new embedding model', function () {
  this.timeout(240_000);
  let stack: TestStack;
  let e5: ModelServer;

  before(async function () {
    e5 = await startModelServer({ port: 0 });
    if (e5.embeddingFallbackReason) {
      await e5.close();
      // Re-embedding needs a second real model to move to; without the engine there is none.
      this.skip();
    }
    stack = await startStack({ label: 'reembed', env: { KEEL_EMBEDDING_MODEL: HASHING_EMBEDDING_MODEL, KEEL_CHUNK_MAX_TOKENS: '40', KEEL_CHUNK_OVERLAP_TOKENS: '8' } });
  });
  after(async () => {
    await stack?.stop();
    await e5?.close();
  });

  it('re-embeds only stale chunks of current versions, resumes after an interruption, and does nothing the second time', async () => {
    const a = await stack.addTenant('reembed-a');
    const b = await stack.addTenant('reembed-b');
    const asA = { baseUrl: stack.baseUrl, apiKey: a.apiKey };
    const first = await upload(asA, sections('parking', 6));
    await upload(asA, sections('travel', 6));
    // A new version of the first document becomes current; the old one is not searched.
    await upload(asA, sections('parking', 7), first.id);
    const other = await upload({ baseUrl: stack.baseUrl, apiKey: b.apiKey }, sections('parking', 6));

    const current = await stack.db.document.findMany({ where: { tenantId: a.tenantId }, select: { currentVersionId: true } });
    const currentIds = current.map((d) => d.currentVersionId!);
    assert.ok(!currentIds.includes(first.versionId), 'the first version is no longer current');
    const stale = await stack.db.chunk.count({ where: { versionId: { in: currentIds } } });
    assert.ok(stale >= 6, `expected several chunks, got ${stale}`);
    assert.equal(await stack.db.chunk.count({ where: { tenantId: a.tenantId, embeddingModel: { not: HASHING_EMBEDDING_MODEL } } }), 0);
    const corpusBefore = (await stack.db.corpusVersion.findUniqueOrThrow({ where: { tenantId: a.tenantId } })).version;

    const deps = { db: stack.db, llm: new OpenAI({ baseURL: e5.url, apiKey: 'test', maxRetries: 0 }), prices: stack.config.KEEL_MODEL_PRICES };
    // Interrupted after its second batch of 2 chunks.
    const controller = new AbortController();
    let batches = 0;
    await assert.rejects(
      reembedTenant(deps, { tenantId: a.tenantId, model: SENTENCE_EMBEDDING_MODEL, batchSize: 2, signal: controller.signal, onProgress: () => ++batches === 2 && controller.abort(new Error('stop')) }),
      (err: unknown) => err instanceof Error && err.message === 'stop',
    );
    assert.equal(await stack.db.chunk.count({ where: { tenantId: a.tenantId, embeddingModel: SENTENCE_EMBEDDING_MODEL } }), 4, 'two batches were written before the stop');

    const callsBefore = e5.counters().embeddings.completed;
    const resumed = await reembedTenant(deps, { tenantId: a.tenantId, model: SENTENCE_EMBEDDING_MODEL, batchSize: 2 });
    assert.equal(resumed.chunks, stale - 4, 'the resumed run embeds only what was left');
    assert.equal(e5.counters().embeddings.completed - callsBefore, Math.ceil((stale - 4) / 2));
    assert.equal(resumed.versions, 2);

    const moved = await stack.db.chunk.findMany({ where: { versionId: { in: currentIds } }, select: { embedding: true, embeddingModel: true } });
    assert.ok(moved.every((c) => c.embeddingModel === SENTENCE_EMBEDDING_MODEL && c.embedding.length === 384));
    // Unit vectors, as retrieval's dot product assumes.
    assert.ok(moved.every((c) => Math.abs(Math.hypot(...c.embedding) - 1) < 1e-3));
    assert.equal(await stack.db.chunk.count({ where: { versionId: first.versionId, embeddingModel: { not: HASHING_EMBEDDING_MODEL } } }), 0, 'the old version is left alone');
    assert.equal(await stack.db.chunk.count({ where: { documentId: other.id, embeddingModel: { not: HASHING_EMBEDDING_MODEL } } }), 0, 'another tenant is untouched');
    assert.ok((resumed.corpusVersion ?? 0) > corpusBefore, 'the corpus version moved, so cached answers retrieved with the old vectors are not served');

    // The command itself, a second time: nothing left, no embedding call.
    const calls = e5.counters().embeddings.requests;
    const { stdout } = await promisify(execFile)('npm', ['run', '-s', 'reembed', '--', '--tenant', a.tenantId, '--model', SENTENCE_EMBEDDING_MODEL], {
      env: { ...process.env, ...stack.processEnv({ OPENAI_BASE_URL: e5.url, OPENAI_API_KEY: 'test' }) },
    });
    const again = JSON.parse(stdout) as { chunks: number; versions: number; corpusVersion: number };
    assert.deepEqual({ chunks: again.chunks, versions: again.versions }, { chunks: 0, versions: 0 });
    assert.equal(again.corpusVersion, resumed.corpusVersion, 'an idle run leaves the corpus version alone');
    assert.equal(e5.counters().embeddings.requests, calls);
  });

  it('writes nothing when the endpoint answers with another model than the one asked for', async () => {
    const c = await stack.addTenant('reembed-c');
    await upload({ baseUrl: stack.baseUrl, apiKey: c.apiKey }, sections('badges', 3));
    // A server without the engine answers e5 requests with hashing vectors, under the hashing model's name.
    const fallback = await startModelServer({ port: 0, sentenceEmbeddings: false });
    const deps = { db: stack.db, llm: new OpenAI({ baseURL: fallback.url, apiKey: 'test', maxRetries: 0 }), prices: stack.config.KEEL_MODEL_PRICES };
    const before = await stack.db.chunk.findMany({ where: { tenantId: c.tenantId }, select: { id: true, embedding: true, embeddingModel: true }, orderBy: { id: 'asc' } });
    try {
      await assert.rejects(
        reembedTenant(deps, { tenantId: c.tenantId, model: SENTENCE_EMBEDDING_MODEL }),
        (err: unknown) => err instanceof EmbeddingModelMismatch && err.answered === HASHING_EMBEDDING_MODEL,
      );
    } finally {
      await fallback.close();
    }
    const after = await stack.db.chunk.findMany({ where: { tenantId: c.tenantId }, select: { id: true, embedding: true, embeddingModel: true }, orderBy: { id: 'asc' } });
    assert.deepEqual(after, before);
  });
});
