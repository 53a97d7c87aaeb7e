import type OpenAI from 'openai';
import type { LedgerEntry } from '../activities/ledger';
import type { Db } from '../db/client';
import { embed } from '../llm/embed';
import type { PriceTable } from '../llm/pricing';

/** What a chunk's vector is made of; ingestion and re-embedding must embed the same text. */
export function chunkEmbeddingInput(chunk: { heading: string | null; text: string }): string {
  return chunk.heading ? `${chunk.heading}\n${chunk.text}` : chunk.text;
}

export class EmbeddingModelMismatch extends Error {
  constructor(readonly asked: string, readonly answered: string) {
    super(`the embedding endpoint answered with model "${answered}" when asked for "${asked}"; nothing was written (is the model installed or named differently there?)`);
    this.name = 'EmbeddingModelMismatch';
  }
}

export interface ReembedSummary {
  tenantId: string;
  model: string;
  /** Current versions that had chunks of another model (or none) when the run started. */
  versions: number;
  chunks: number;
  tokens: number;
  /** The tenant's corpus version after the run: bumped with every batch written (cached answers were retrieved with the old vectors). */
  corpusVersion: number | null;
}

/**
 * Re-embeds a tenant's searchable chunks with `model`: every chunk of a current, undeleted
 * document version whose vector was made by another model (or is missing), version by version,
 * in batches. Each batch is one transaction, and what is left is read again from the table before
 * every batch, so a run stopped anywhere resumes where it stopped and a second run does nothing.
 * Until a version is done, retrieval finds its old-model chunks lexically only (it compares
 * vectors of the query's model): degraded, never wrong. Old versions are not searched, so they are
 * left alone. The endpoint must answer with the model it was asked for, or nothing is written.
 */
export async function reembedTenant(
  deps: { db: Db; llm: OpenAI; prices: PriceTable },
  input: { tenantId: string; model: string; batchSize?: number; signal?: AbortSignal; onProgress?: (p: { versionId: string; documentId: string; chunks: number }) => void },
): Promise<ReembedSummary> {
  const { db } = deps;
  const { tenantId, model } = input;
  const batchSize = input.batchSize ?? 64;
  const stale = { tenantId, OR: [{ embeddingModel: null }, { embeddingModel: { not: model } }, { embedding: { isEmpty: true } }] };
  const documents = await db.document.findMany({
    where: { tenantId, deletedAt: null, currentVersionId: { not: null } },
    select: { id: true, currentVersionId: true },
    orderBy: { createdAt: 'asc' },
  });
  const summary: ReembedSummary = { tenantId, model, versions: 0, chunks: 0, tokens: 0, corpusVersion: null };
  for (const doc of documents) {
    const versionId = doc.currentVersionId!;
    let counted = false;
    let done = 0;
    for (;;) {
      input.signal?.throwIfAborted();
      const batch = await db.chunk.findMany({
        where: { ...stale, versionId },
        orderBy: { ordinal: 'asc' },
        take: batchSize,
        select: { id: true, text: true, heading: true },
      });
      if (batch.length === 0) break;
      if (!counted) summary.versions++;
      counted = true;
      const entry: LedgerEntry = { usage: {}, lineage: {} };
      const { vectors, model: answered } = await embed(deps, entry, model, batch.map(chunkEmbeddingInput), input.signal);
      if (answered !== model) throw new EmbeddingModelMismatch(model, answered);
      // The corpus version moves with the vectors, in the same transaction: retrieval may now find
      // other chunks, so answers cached before this batch must not be served after it.
      const [bumped] = await db.$transaction([
        db.corpusVersion.upsert({ where: { tenantId }, create: { tenantId, version: 1 }, update: { version: { increment: 1 } } }),
        ...batch.map((c, i) => db.chunk.update({ where: { id: c.id }, data: { embedding: vectors[i] ?? [], embeddingModel: answered } })),
      ]);
      summary.corpusVersion = bumped.version;
      done += batch.length;
      summary.chunks += batch.length;
      summary.tokens += entry.usage.tokensIn ?? 0;
      input.onProgress?.({ versionId, documentId: doc.id, chunks: done });
    }
  }
  summary.corpusVersion ??= (await db.corpusVersion.findUnique({ where: { tenantId } }))?.version ?? null;
  return summary;
}
