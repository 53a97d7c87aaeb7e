import { patched } from '@temporalio/workflow';
import type { IngestResult, IngestWorkflowInput } from '../shared';
import { keelActivities, keelLocalActivities } from './profiles';
import { recordRunFailure, trackRun } from './run-steps';

const act = keelActivities();
const local = keelLocalActivities();

/** Ingest a document version: extract → chunk → embed → publish (searchable, corpus version bumped). */
export async function ingest(input: IngestWorkflowInput): Promise<IngestResult> {
  const { runId, tenantId, documentId, versionId } = input;
  const run = trackRun(input);
  const { setStatus, step } = run;
  const ref = { runId, tenantId, versionId };
  // Lean (docs/hostile-input.md, "The bystander"): the start already set KeelStatus `running`, and
  // the run-row and document bookkeeping are local activities, so a rejected document costs one
  // activity task and two workflow tasks instead of four and five. Older runs replay the old commands.
  const lean = patched('ingest-lean-v1');
  const book = lean ? local : act;
  if (!lean) setStatus('running');
  try {
    await book.markRunRunning({ runId, tenantId });
    const { pages } = await step('extractText', () => act.extractText(ref));
    const { chunks } = await step('chunkText', () => act.chunkText(ref));
    const { embedded } = await step('embedChunks', () => act.embedChunks(ref));
    const { corpusVersion } = await step('publishDocument', () => act.publishDocument({ ...ref, documentId }));
    const result: IngestResult = { documentId, versionId, pages, chunks, embedded, corpusVersion };
    await step('storeResult', () => book.storeResult({ runId, tenantId, result }));
    setStatus('completed');
    return result;
  } catch (err) {
    await recordRunFailure(err, run, async (status, error) => {
      await book.failDocument({ tenantId, documentId, versionId, error: { type: error.type, message: error.message } });
      await book.markRunFinished({ runId, tenantId, status, error });
    });
    throw err;
  }
}
