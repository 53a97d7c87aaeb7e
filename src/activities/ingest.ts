import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { randomUUID } from 'node:crypto';
import type OpenAI from 'openai';
import type { Db } from '../db/client';
import { chunkPages, type ChunkOptions } from '../documents/chunk';
import { DocumentRejectedError, openDocument } from '../documents/extract';
import { kindOfMediaType } from '../documents/media-type';
import type { PriceTable } from '../llm/pricing';
import { FailureType } from '../shared';
import type { ObjectStore } from '../storage';
import { withLedger } from './ledger';
import { embed } from '../llm/embed';

export interface IngestDeps {
  db: Db;
  llm: OpenAI;
  prices: PriceTable;
  store: ObjectStore;
  embeddingModel: string | undefined;
  chunking: ChunkOptions;
  embedBatchSize?: number;
}

interface VersionRef {
  runId: string;
  tenantId: string;
  versionId: string;
}

/** Heartbeat details of extractText: the next page to extract, so a retry starts there. */
export interface ExtractProgress {
  nextPage: number;
  pageCount: number;
}

function rejected(err: DocumentRejectedError): ApplicationFailure {
  return ApplicationFailure.nonRetryable(err.message, FailureType.documentRejected, { reason: err.reason });
}

export function createIngestActivities(deps: IngestDeps) {
  const { db } = deps;
  const version = async (ref: VersionRef) => {
    const v = await db.documentVersion.findFirst({ where: { id: ref.versionId, tenantId: ref.tenantId } });
    if (!v) throw ApplicationFailure.nonRetryable(`Document version ${ref.versionId} no longer exists`, FailureType.documentRejected, { reason: 'deleted' });
    return v;
  };

  return {
    /**
     * Extracts text page by page into document_page. Each page is saved before the heartbeat
     * that reports it, so a retry after a crash starts at the page the last heartbeat named
     * and never loses a page it skips.
     */
    async extractText(ref: VersionRef): Promise<{ pages: number; resumedFromPage: number }> {
      return withLedger(db, { runId: ref.runId, tenantId: ref.tenantId, step: 'extractText' }, async () => {
        const ctx = Context.current();
        const v = await version(ref);
        const kind = kindOfMediaType(v.mediaType);
        if (!kind) throw ApplicationFailure.nonRetryable(`Unsupported media type ${v.mediaType}`, FailureType.documentRejected, { reason: 'unsupported' });
        const bytes = await deps.store.get(v.objectKey);
        let doc;
        try {
          doc = await openDocument(kind, bytes);
        } catch (err) {
          if (err instanceof DocumentRejectedError) throw rejected(err);
          throw err;
        }
        try {
          const last = ctx.info.heartbeatDetails as ExtractProgress | undefined;
          const start = last && last.nextPage >= 1 && last.nextPage <= doc.pageCount + 1 ? last.nextPage : 1;
          for (let page = start; page <= doc.pageCount; page++) {
            ctx.cancellationSignal.throwIfAborted();
            let text: string;
            try {
              text = (await doc.pageText(page)).replaceAll('\u0000', '');
            } catch (err) {
              throw rejected(new DocumentRejectedError('corrupt', `Page ${page} could not be read: ${err instanceof Error ? err.message : String(err)}`));
            }
            await db.documentPage.upsert({
              where: { versionId_page: { versionId: v.id, page } },
              create: { versionId: v.id, page, text, attempt: ctx.info.attempt },
              update: { text, attempt: ctx.info.attempt },
            });
            ctx.heartbeat({ nextPage: page + 1, pageCount: doc.pageCount } satisfies ExtractProgress);
          }
          const pages = await db.documentPage.findMany({ where: { versionId: v.id }, select: { text: true } });
          if (!pages.some((p) => /\S/.test(p.text))) {
            throw rejected(new DocumentRejectedError('empty', 'The document contains no extractable text (an empty file, or a scan without a text layer).'));
          }
          await db.documentVersion.update({ where: { id: v.id }, data: { pageCount: doc.pageCount } });
          return { pages: doc.pageCount, resumedFromPage: start };
        } finally {
          await doc.close().catch(() => undefined);
        }
      });
    },

    /** Replaces the version's chunks in one transaction, so a retry never leaves duplicates. */
    async chunkText(ref: VersionRef): Promise<{ chunks: number }> {
      return withLedger(db, { runId: ref.runId, tenantId: ref.tenantId, step: 'chunkText' }, async () => {
        const v = await version(ref);
        const pages = await db.documentPage.findMany({ where: { versionId: v.id }, orderBy: { page: 'asc' } });
        const chunks = chunkPages(pages, deps.chunking);
        await db.$transaction([
          db.chunk.deleteMany({ where: { versionId: v.id } }),
          db.chunk.createMany({
            data: chunks.map((c) => ({
              id: randomUUID(),
              tenantId: v.tenantId,
              documentId: v.documentId,
              versionId: v.id,
              ordinal: c.ordinal,
              page: c.page,
              heading: c.heading,
              text: c.text,
              tokenCount: c.tokenCount,
              embedding: [],
            })),
          }),
          db.$executeRaw`UPDATE chunk SET tsv = to_tsvector('english', coalesce(heading, '') || ' ' || text) WHERE version_id = ${v.id}::uuid`,
          db.documentVersion.update({ where: { id: v.id }, data: { chunkCount: chunks.length } }),
        ]);
        return { chunks: chunks.length };
      });
    },

    /** Embeds chunks that have no vector yet, in batches; a retry picks up where the last one stopped. */
    async embedChunks(ref: VersionRef): Promise<{ embedded: boolean; chunks: number }> {
      return withLedger(db, { runId: ref.runId, tenantId: ref.tenantId, step: 'embedChunks' }, async (entry) => {
        if (!deps.embeddingModel) return { embedded: false, chunks: 0 };
        const ctx = Context.current();
        const batchSize = deps.embedBatchSize ?? 64;
        let done = 0;
        for (;;) {
          const batch = await db.chunk.findMany({
            where: { versionId: ref.versionId, tenantId: ref.tenantId, embedding: { isEmpty: true } },
            orderBy: { ordinal: 'asc' },
            take: batchSize,
            select: { id: true, text: true, heading: true },
          });
          if (batch.length === 0) break;
          const { vectors, model } = await embed(deps, entry, deps.embeddingModel, batch.map((c) => (c.heading ? `${c.heading}\n${c.text}` : c.text)), ctx.cancellationSignal);
          await db.$transaction(batch.map((c, i) => db.chunk.update({ where: { id: c.id }, data: { embedding: vectors[i] ?? [], embeddingModel: model } })));
          done += batch.length;
          ctx.heartbeat({ embedded: done });
        }
        return { embedded: true, chunks: done };
      });
    },

    /**
     * Makes the version the document's searchable one and bumps the tenant's corpus version,
     * in one transaction: retrieval sees all of the new version's chunks or none of them.
     */
    async publishDocument(input: VersionRef & { documentId: string }): Promise<{ corpusVersion: number }> {
      return withLedger(db, { runId: input.runId, tenantId: input.tenantId, step: 'publishDocument' }, async () =>
        db.$transaction(async (tx) => {
          const changed = await tx.documentVersion.updateMany({
            where: { id: input.versionId, tenantId: input.tenantId, status: { not: 'ready' } },
            data: { status: 'ready' },
          });
          const doc = await tx.document.updateMany({
            where: { id: input.documentId, tenantId: input.tenantId },
            data: { status: 'ready', currentVersionId: input.versionId, error: undefined },
          });
          if (doc.count === 0) throw ApplicationFailure.nonRetryable('The document was deleted while it was being ingested', FailureType.documentRejected, { reason: 'deleted' });
          if (changed.count === 0) {
            const current = await tx.corpusVersion.findUnique({ where: { tenantId: input.tenantId } });
            return { corpusVersion: current?.version ?? 0 };
          }
          const bumped = await tx.corpusVersion.upsert({
            where: { tenantId: input.tenantId },
            create: { tenantId: input.tenantId, version: 1 },
            update: { version: { increment: 1 } },
          });
          return { corpusVersion: bumped.version };
        }),
      );
    },

    /** A failed ingest leaves nothing searchable: its chunks go, and a document with no earlier version is `failed`. */
    async failDocument(input: { tenantId: string; documentId: string; versionId: string; error: { type: string; message: string } }): Promise<void> {
      await db.$transaction([
        db.chunk.deleteMany({ where: { versionId: input.versionId, tenantId: input.tenantId } }),
        db.documentVersion.updateMany({ where: { id: input.versionId, tenantId: input.tenantId }, data: { status: 'failed' } }),
        db.document.updateMany({
          where: { id: input.documentId, tenantId: input.tenantId, currentVersionId: null },
          data: { status: 'failed', error: input.error },
        }),
      ]);
    },
  };
}
