import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { randomUUID } from 'node:crypto';
import type OpenAI from 'openai';
import type { Db } from '../db/client';
import type { ChunkOptions } from '../documents/chunk';
import { cleanUpFailedVersion } from '../documents/cleanup';
import { chunkEmbeddingInput } from '../documents/reembed';
import { DocumentRejectedError } from '../documents/extract';
import { chunkInSandbox, DEFAULT_DOCUMENT_LIMITS, extractPages, type DocumentLimits } from '../documents/sandbox';
import { kindOfMediaType } from '../documents/media-type';
import type { PriceTable } from '../llm/pricing';
import { FailureType } from '../shared';
import type { ObjectStore } from '../storage';
import { crashedAttempts, withLedger } from './ledger';
import { embed } from '../llm/embed';

export interface IngestDeps {
  db: Db;
  llm: OpenAI;
  prices: PriceTable;
  store: ObjectStore;
  embeddingModel: string | undefined;
  chunking: ChunkOptions;
  embedBatchSize?: number;
  heartbeatIntervalMs?: number;
  /** Bounds on parsing (src/documents/sandbox.ts) and on attempts that crash their worker. */
  limits?: Partial<IngestLimits>;
}

export interface IngestLimits extends DocumentLimits {
  /** Attempts of a step that may die with their worker before the step fails for good. */
  maxCrashedAttempts: number;
}

export const DEFAULT_INGEST_LIMITS: IngestLimits = { ...DEFAULT_DOCUMENT_LIMITS, maxCrashedAttempts: 2 };

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

/** Chunks written per statement: small enough that each write is well inside Prisma's transaction timeout. */
export const CHUNK_WRITE_BATCH = 1_000;

/**
 * Runs `fn` while heartbeating every `intervalMs`: a step waiting on a parsing process or a long write still
 * tells Temporal it is alive, and hears back when it has been cancelled or timed out.
 */
async function heartbeating<T>(ctx: Context, details: () => unknown, intervalMs: number | undefined, fn: () => Promise<T>): Promise<T> {
  const timer = setInterval(() => ctx.heartbeat(details()), intervalMs ?? 1_000);
  try {
    return await fn();
  } finally {
    clearInterval(timer);
  }
}

export function createIngestActivities(deps: IngestDeps) {
  const { db } = deps;
  const limits: IngestLimits = { ...DEFAULT_INGEST_LIMITS, ...deps.limits };
  const version = async (ref: VersionRef) => {
    const v = await db.documentVersion.findFirst({ where: { id: ref.versionId, tenantId: ref.tenantId } });
    if (!v) throw ApplicationFailure.nonRetryable(`Document version ${ref.versionId} no longer exists`, FailureType.documentRejected, { reason: 'deleted' });
    return v;
  };

  /**
   * A step whose earlier attempts died with their worker (a `started` ledger row that never got
   * an outcome) is failed for good once that has happened `maxCrashedAttempts` times: the same
   * bytes would take the next worker down too.
   */
  const refuseIfPoisonous = async (ref: VersionRef, step: string) => {
    const crashed = await crashedAttempts(db, ref.runId);
    if (crashed >= limits.maxCrashedAttempts) {
      throw ApplicationFailure.nonRetryable(
        `${step} died with its worker ${crashed} times on this document; it is not tried again.`,
        FailureType.documentRejected,
        { reason: 'crashed-worker', crashedAttempts: crashed },
      );
    }
  };

  return {
    /**
     * Extracts text page by page into document_page, in a parsing process (src/documents/sandbox.ts)
     * bounded by size, expansion, page count, depth, heap and time. Each page is saved before the
     * heartbeat that reports it, so a retry after a crash starts at the page the last heartbeat
     * named and never loses a page it skips. Heartbeats also run while a page is being parsed, so
     * a cancelled or timed-out attempt learns of it and kills its parsing process.
     */
    async extractText(ref: VersionRef): Promise<{ pages: number; resumedFromPage: number }> {
      return withLedger(db, { runId: ref.runId, tenantId: ref.tenantId, step: 'extractText' }, async () => {
        const ctx = Context.current();
        await refuseIfPoisonous(ref, 'extractText');
        const v = await version(ref);
        const kind = kindOfMediaType(v.mediaType);
        if (!kind) throw ApplicationFailure.nonRetryable(`Unsupported media type ${v.mediaType}`, FailureType.documentRejected, { reason: 'unsupported' });
        const bytes = await deps.store.get(v.objectKey);
        const last = ctx.info.heartbeatDetails as ExtractProgress | undefined;
        const start = last && last.nextPage >= 1 ? last.nextPage : 1;
        let progress: ExtractProgress = { nextPage: start, pageCount: last?.pageCount ?? 0 };
        const { pageCount } = await heartbeating(ctx, () => progress, deps.heartbeatIntervalMs, async () => {
          try {
            return await extractPages(kind, bytes, {
              limits,
              startPage: start,
              signal: ctx.cancellationSignal,
              onPage: async (page, text, pages) => {
                await db.documentPage.upsert({
                  where: { versionId_page: { versionId: v.id, page } },
                  create: { versionId: v.id, page, text, attempt: ctx.info.attempt },
                  update: { text, attempt: ctx.info.attempt },
                });
                progress = { nextPage: page + 1, pageCount: pages };
                ctx.heartbeat(progress);
              },
            });
          } catch (err) {
            if (err instanceof DocumentRejectedError) throw rejected(err);
            throw err;
          }
        });
        // Asked of the database: the pages of a 45 MB text need not come back to know one has text.
        const withText = await db.$queryRaw<Array<{ found: boolean }>>`
          SELECT EXISTS (SELECT 1 FROM document_page WHERE version_id = ${v.id}::uuid AND text ~ '[^[:space:]]') AS found`;
        if (!withText[0]?.found) {
          throw rejected(new DocumentRejectedError('empty', 'The document contains no extractable text (an empty file, or a scan without a text layer).'));
        }
        await db.documentVersion.update({ where: { id: v.id }, data: { pageCount } });
        return { pages: pageCount, resumedFromPage: start <= pageCount + 1 ? start : 1 };
      });
    },

    /**
     * Replaces the version's chunks: chunked in a parsing process, then written in batches of
     * CHUNK_WRITE_BATCH, each its own short statement, so a 45 MB text never holds one
     * transaction for longer than Prisma allows. A retry starts by deleting what an earlier
     * attempt wrote, so it never leaves duplicates; nothing is searchable before publishDocument.
     */
    async chunkText(ref: VersionRef): Promise<{ chunks: number }> {
      return withLedger(db, { runId: ref.runId, tenantId: ref.tenantId, step: 'chunkText' }, async () => {
        const ctx = Context.current();
        await refuseIfPoisonous(ref, 'chunkText');
        const v = await version(ref);
        let written = 0;
        return heartbeating(ctx, () => ({ written }), deps.heartbeatIntervalMs, async () => {
          const pages = await db.documentPage.findMany({ where: { versionId: v.id }, orderBy: { page: 'asc' }, select: { page: true, text: true } });
          const chunks = await chunkInSandbox(pages, deps.chunking, limits, ctx.cancellationSignal);
          await db.chunk.deleteMany({ where: { versionId: v.id } });
          for (let at = 0; at < chunks.length; at += CHUNK_WRITE_BATCH) {
            ctx.cancellationSignal.throwIfAborted();
            const batch = chunks.slice(at, at + CHUNK_WRITE_BATCH);
            await db.$transaction([
              db.chunk.createMany({
                data: batch.map((c) => ({
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
              db.$executeRaw`UPDATE chunk SET tsv = to_tsvector('english', coalesce(heading, '') || ' ' || text)
                WHERE version_id = ${v.id}::uuid AND ordinal >= ${at} AND ordinal < ${at + batch.length}`,
            ]);
            written += batch.length;
            ctx.heartbeat({ written });
          }
          await db.documentVersion.update({ where: { id: v.id }, data: { chunkCount: chunks.length } });
          return { chunks: chunks.length };
        });
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
          const { vectors, model } = await embed(deps, entry, deps.embeddingModel, batch.map(chunkEmbeddingInput), ctx.cancellationSignal);
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

    /** A failed or cancelled ingest leaves nothing behind: no chunks, no pages, the version `failed` (src/documents/cleanup.ts). */
    async failDocument(input: { tenantId: string; documentId: string; versionId: string; error: { type: string; message: string } }): Promise<void> {
      await cleanUpFailedVersion(db, input);
    },
  };
}
