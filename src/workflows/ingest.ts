import { CancellationScope, isCancellation, proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { IngestResult, IngestWorkflowInput, RunStatus } from '../shared';
import { dbWrite, embedCall, ingestWork } from './profiles';
import { failureSummary, trackRun } from './run-steps';

const db = proxyActivities<Activities>(dbWrite);
const docs = proxyActivities<Activities>(ingestWork);
const embed = proxyActivities<Activities>(embedCall);

/** Ingest a document version: extract → chunk → embed → publish (searchable, corpus version bumped). */
export async function ingest(input: IngestWorkflowInput): Promise<IngestResult> {
  const { runId, tenantId, documentId, versionId } = input;
  const { progress, setStatus, step } = trackRun();
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
    const failedStep = progress.step;
    const status: RunStatus = isCancellation(err) ? 'cancelled' : 'failed';
    const summary = failureSummary(err, failedStep);
    await CancellationScope.nonCancellable(async () => {
      setStatus(status);
      await db.failDocument({ tenantId, documentId, versionId, error: { type: summary.type, message: summary.message } });
      await db.markRunFinished({ runId, tenantId, status, error: summary });
    });
    throw err;
  }
}
