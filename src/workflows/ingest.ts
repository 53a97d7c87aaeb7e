import type { IngestResult, IngestWorkflowInput } from '../shared';
import { keelActivities } from './profiles';
import { recordRunFailure, trackRun } from './run-steps';

const act = keelActivities();

/** Ingest a document version: extract → chunk → embed → publish (searchable, corpus version bumped). */
export async function ingest(input: IngestWorkflowInput): Promise<IngestResult> {
  const { runId, tenantId, documentId, versionId } = input;
  const run = trackRun(input);
  const { setStatus, step } = run;
  const ref = { runId, tenantId, versionId };
  setStatus('running');
  try {
    await act.markRunRunning({ runId, tenantId });
    const { pages } = await step('extractText', () => act.extractText(ref));
    const { chunks } = await step('chunkText', () => act.chunkText(ref));
    const { embedded } = await step('embedChunks', () => act.embedChunks(ref));
    const { corpusVersion } = await step('publishDocument', () => act.publishDocument({ ...ref, documentId }));
    const result: IngestResult = { documentId, versionId, pages, chunks, embedded, corpusVersion };
    await step('storeResult', () => act.storeResult({ runId, tenantId, result }));
    setStatus('completed');
    return result;
  } catch (err) {
    await recordRunFailure(err, run, async (status, error) => {
      await act.failDocument({ tenantId, documentId, versionId, error: { type: error.type, message: error.message } });
      await act.markRunFinished({ runId, tenantId, status, error });
    });
    throw err;
  }
}
