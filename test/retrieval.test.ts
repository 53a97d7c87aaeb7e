import assert from 'node:assert/strict';
import { http, startStack, waitForRun, type TestStack } from './support/stack';

interface Retrieved {
  chunkId: string;
  documentId: string;
}
interface AnswerRun {
  status: string;
  error: unknown;
  result: { answer: string; citations: Array<{ chunkId: string; documentId: string }>; retrieved?: Retrieved[] } | null;
}
type As = Pick<TestStack, 'baseUrl' | 'apiKey'>;

const TOP_K = 2;

async function uploadMarkdown(as: As, text: string, fields: Record<string, string> = {}): Promise<{ id: string; versionId: string }> {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  form.append('file', new Blob([text], { type: 'text/markdown' }), 'notes.md');
  const up = await http<{ id: string; versionId: string; ingestRunId: string }>(as, 'POST', '/v1/documents', { form });
  assert.equal(up.status, 202, JSON.stringify(up.body));
  const ingest = await waitForRun<AnswerRun>(as, up.body.ingestRunId, 60_000);
  assert.equal(ingest.status, 'completed', JSON.stringify(ingest.error));
  return up.body;
}

async function ask(as: As, question: string): Promise<NonNullable<AnswerRun['result']>> {
  const res = await http<{ id: string }>(as, 'POST', '/v1/runs', { body: { type: 'answer', input: { question } } });
  assert.equal(res.status, 202, JSON.stringify(res.body));
  const run = await waitForRun<AnswerRun>(as, res.body.id, 60_000);
  assert.equal(run.status, 'completed', JSON.stringify(run.error));
  assert.ok(run.result);
  return run.result;
}

/**
 * Retrieval through the whole system (upload → ingest → answer run), where the SQL that
 * shortlists candidates decides what a tenant's answer can see. Top-k is 2, so each retriever
 * shortlists 8 candidates: few enough that another tenant's chunks could crowd them out.
 */
describe('retrieval: each tenant searches its own current documents', function () {
  this.timeout(180_000);
  let stack: TestStack;

  before(async () => {
    stack = await startStack({
      label: 'retrieval',
      env: { KEEL_EMBEDDING_MODEL: 'keel-offline-embed-1', KEEL_RETRIEVAL_TOP_K: String(TOP_K), KEEL_CHUNK_MAX_TOKENS: '40', KEEL_CHUNK_OVERLAP_TOKENS: '8' },
    });
  });
  after(async () => {
    await stack?.stop();
  });

  it('two tenants with documents on the same topic each get their own context, however well the other matches', async () => {
    const a = await stack.addTenant('retrieval-a');
    const b = await stack.addTenant('retrieval-b');
    const asA = { baseUrl: stack.baseUrl, apiKey: a.apiKey };
    const asB = { baseUrl: stack.baseUrl, apiKey: b.apiKey };
    // A owns one passage that answers the question among other words.
    const docA = await uploadMarkdown(asA, '# Site guide\n\n## Parking\n\nStaff parking: our employees park on the roof deck of building seven, beside the bicycle racks and the lift.\n');
    // B owns twelve passages made almost only of the question's words: better matches than A's on
    // both the full-text rank and the cosine, enough to fill every shortlist if tenants mixed.
    const sections = Array.from({ length: 12 }, (_, i) => `## Parking ${i + 1}\n\nWhere do employees park? Employees park in garage ${i + 1}. Employees park there; employees park free.\n`);
    const docB = await uploadMarkdown(asB, `# Garages\n\n${sections.join('\n')}`);
    assert.ok((await stack.db.chunk.count({ where: { documentId: docB.id } })) >= 12);

    const question = 'Where do employees park?';
    const [forA, forB] = await Promise.all([ask(asA, question), ask(asB, question)]);

    assert.ok(forA.retrieved && forA.retrieved.length > 0, `tenant A got no context: ${forA.answer}`);
    assert.deepEqual([...new Set(forA.retrieved.map((r) => r.documentId))], [docA.id]);
    assert.deepEqual([...new Set(forA.citations.map((c) => c.documentId))], [docA.id]);
    assert.match(forA.answer, /roof deck of building seven/);

    assert.equal(forB.retrieved?.length, TOP_K);
    assert.deepEqual([...new Set(forB.retrieved.map((r) => r.documentId))], [docB.id]);
    assert.deepEqual([...new Set(forB.citations.map((c) => c.documentId))], [docB.id]);
    assert.doesNotMatch(forB.answer, /roof deck/);
  });

  it('a second version of a document answers from the new version only', async () => {
    const v1 = await uploadMarkdown(stack, '# Terms\n\n## Warranty\n\nThe warranty period is twelve months from the delivery date.\n');
    const v2 = await uploadMarkdown(stack, '# Terms\n\n## Warranty\n\nThe warranty period is twenty-four months from the delivery date.\n', { documentId: v1.id });
    assert.equal(v2.id, v1.id);
    assert.notEqual(v2.versionId, v1.versionId);
    // The first version's chunks are kept (history), so only the query keeps them out.
    assert.ok((await stack.db.chunk.count({ where: { versionId: v1.versionId } })) > 0);

    const result = await ask(stack, 'How long is the warranty period?');
    assert.match(result.answer, /twenty-four months/);
    assert.doesNotMatch(result.answer, /twelve months/);
    const ids = (result.retrieved ?? []).map((r) => r.chunkId);
    assert.ok(ids.length > 0);
    const chunks = await stack.db.chunk.findMany({ where: { id: { in: ids } }, select: { versionId: true } });
    assert.deepEqual([...new Set(chunks.map((c) => c.versionId))], [v2.versionId], 'a chunk of the old version was retrieved');
  });
});
