import { isGrpcServiceError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Db } from '../db/client';

/**
 * What an ingest leaves behind when it does not finish: no chunks, no pages, the version
 * `failed`, and a document that never had a ready version `failed` with the reason. A failed
 * or cancelled ingest does this itself (the workflow's non-cancellable failure path calls
 * failDocument); a terminated one runs no workflow code, so whoever notices the closed run
 * (the run-lifecycle reconcile, a read of the document, the next upload of the same bytes)
 * calls cleanUpAbandonedIngest. Both are idempotent.
 */
export async function cleanUpFailedVersion(
  db: Db,
  input: { tenantId: string; documentId: string; versionId: string; error: { type: string; message: string } },
): Promise<void> {
  await db.$transaction([
    db.chunk.deleteMany({ where: { versionId: input.versionId, tenantId: input.tenantId } }),
    db.documentPage.deleteMany({ where: { versionId: input.versionId, version: { tenantId: input.tenantId } } }),
    db.documentVersion.updateMany({ where: { id: input.versionId, tenantId: input.tenantId, status: { not: 'ready' } }, data: { status: 'failed', pageCount: null, chunkCount: null } }),
    db.document.updateMany({
      where: { id: input.documentId, tenantId: input.tenantId, currentVersionId: null },
      data: { status: 'failed', error: input.error },
    }),
  ]);
}

/**
 * Cleans up after the ingest run `runId` if it closed without success (terminated, cancelled,
 * timed out, failed). Call it for any ingest run found closed; for a run that completed, or a
 * version already ready, it changes nothing. Returns whether a version was cleaned up.
 */
export async function cleanUpAbandonedIngest(db: Db, runId: string, how = 'terminated'): Promise<boolean> {
  const versions = await db.documentVersion.findMany({ where: { ingestRunId: runId, status: 'processing' } });
  for (const v of versions) {
    await cleanUpFailedVersion(db, {
      tenantId: v.tenantId,
      documentId: v.documentId,
      versionId: v.id,
      error: { type: 'IngestAbandoned', message: `The ingest run was ${how} before the document was ready.` },
    });
  }
  return versions.length > 0;
}

export type IngestRunState = 'running' | 'completed' | 'dead' | 'unknown';

/** Where an ingest run stands, according to Temporal (the run row may lag behind a terminate). */
export async function ingestRunState(temporal: Client, runId: string): Promise<{ state: IngestRunState; how?: string }> {
  try {
    const status = (await temporal.workflow.getHandle(runId).describe()).status.name;
    if (status === 'RUNNING' || status === 'CONTINUED_AS_NEW') return { state: 'running' };
    if (status === 'COMPLETED') return { state: 'completed' };
    return { state: 'dead', how: status.toLowerCase().replace('_', ' ') };
  } catch (err) {
    if (err instanceof WorkflowNotFoundError || (isGrpcServiceError(err) && Number(err.code) === 5)) return { state: 'dead', how: 'never started' };
    return { state: 'unknown' };
  }
}

/**
 * A version is a dedupe target only if it is ready or its ingest is still running: a version
 * whose run closed without success (even before anyone noticed) is cleaned up here and must be
 * ingested again. Returns whether the version is dead.
 */
export async function settleDeadVersion(
  deps: { db: Db; temporal: Client },
  version: { status: string; ingestRunId: string },
): Promise<boolean> {
  if (version.status === 'failed') return true;
  if (version.status !== 'processing') return false;
  const { state, how } = await ingestRunState(deps.temporal, version.ingestRunId);
  if (state !== 'dead') return false;
  await cleanUpAbandonedIngest(deps.db, version.ingestRunId, how);
  return true;
}

/**
 * Removes a deleted document's text from the ledger: every retrieval step of the tenant that
 * returned one of its chunks keeps the chunk's ids, page and scores, but its `text` becomes ''
 * and its `heading` null, marked `redacted`. Other chunks of the same step are left as they were.
 */
export function redactRetrievedText(db: Db, tenantId: string, documentId: string) {
  return db.$executeRaw`
    UPDATE run_step SET output = (
      SELECT jsonb_agg(
               CASE WHEN e->>'documentId' = ${documentId}::text
                    THEN e || jsonb_build_object('text', '', 'heading', null, 'redacted', true)
                    ELSE e END
               ORDER BY ord)
      FROM jsonb_array_elements(output) WITH ORDINALITY AS t(e, ord))
    WHERE tenant_id = ${tenantId}::uuid
      AND step = 'retrieveContext'
      AND jsonb_typeof(output) = 'array'
      AND output @> jsonb_build_array(jsonb_build_object('documentId', ${documentId}::text))`;
}
