import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { IngestResult, IngestWorkflowInput } from '../shared';
import { dbWrite, embedCall, ingestWork } from './profiles';
import { recordRunFailure, trackRun } from './run-steps';

const db = proxyActivities<Activities>(dbWrite);
const docs = proxyActivities<Activities>(ingestWork);
const embed = proxyActivities<Activities>(embedCall);

/** Ingest a document version: extract → chunk → embed → publish (searchable, corpus version bumped). */
export async function ingest(input: IngestWorkflowInput): Promise<IngestResult> {
  const { runId, tenantId, documentId, versionId } = input;
  const run = trackRun();
  const { setStatus, step } = run;
  const ref = { runId, tenantId, versionId };
  setStatus('running');
  try {
    await db.markRunRunning({ runId, tenantId });
    const { pages } = await step('extractText', () => docs.extractText(ref));
    const { chunks } = await step('chunkText', () => docs.chunkText(ref));
    const { embedded } = await step('embedChunks', () => embed.embedChunks(ref));
    const { corpusVersion } = await step('publishDocument', () => db.publishDocument({ ...ref, documentId }));
    const result: IngestResult = { documentId, versionId, pages, chunks, embedded, corpusVersion };
    await step('storeResult', () => db.storeResult({ runId, tenantId, result }));
    setStatus('completed');
    return result;
  } catch (err) {
    await recordRunFailure(err, run, async (status, error) => {
      await db.failDocument({ tenantId, documentId, versionId, error: { type: error.type, message: error.message } });
      await db.markRunFinished({ runId, tenantId, status, error });
    });
    throw err;
  }
}
