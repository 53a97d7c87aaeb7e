import { Context } from '@temporalio/activity';
import type OpenAI from 'openai';
import type { Db } from '../db/client';
import type { ResultCache, RunLookup } from '../cache';
import { embed, sharedEmbedding, type EmbedFor } from '../llm/embed';
import type { PriceTable } from '../llm/pricing';
import type { ContextChunk } from '../shared';
import { cacheLookupStep, type CacheLookupInput } from './cache';
import { withLedger, writeLedgerRows, type LedgerEntry, type LedgerOutcome } from './ledger';

export interface RetrieveDeps {
  db: Db;
  llm: OpenAI;
  prices: PriceTable;
  embeddingModel: string | undefined;
  topK: number;
  /** The result cache, for `lookupAndRetrieve`; unset: its lookup misses and nothing is stored. */
  cache?: ResultCache;
}

/**
 * Reciprocal rank fusion (Cormack et al., 2009): a chunk's fused score is the sum over the
 * retrievers that found it of 1 / (RRF_K + rank), rank starting at 1. It needs no score
 * calibration between BM25-like ranks and cosines, and a chunk both retrievers rank well
 * beats one that only one of them likes. Ties break on chunk id, so results are stable.
 */
export const RRF_K = 60;
/** Each retriever contributes this many candidates per requested result. */
const CANDIDATES_PER_RESULT = 4;

export function fuseRankings(lexical: readonly string[], vector: readonly string[], topK: number): Array<{ id: string; score: number; lexicalRank: number | null; vectorRank: number | null }> {
  const fused = new Map<string, { id: string; score: number; lexicalRank: number | null; vectorRank: number | null }>();
  const add = (ids: readonly string[], which: 'lexicalRank' | 'vectorRank') =>
    ids.forEach((id, i) => {
      const entry = fused.get(id) ?? { id, score: 0, lexicalRank: null, vectorRank: null };
      entry.score += 1 / (RRF_K + i + 1);
      entry[which] = i + 1;
      fused.set(id, entry);
    });
  add(lexical, 'lexicalRank');
  add(vector, 'vectorRank');
  return [...fused.values()].sort((a, b) => b.score - a.score || (a.id < b.id ? -1 : 1)).slice(0, topK);
}

/** OR of the query's words: a question rarely shares every word with the passage that answers it. */
export function orQuery(text: string): string {
  const words = [...new Set((text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []).filter((w) => w.length > 1))];
  return words.slice(0, 64).join(' | ');
}

/** Only the current version of a ready, undeleted document is searchable. */
const SEARCHABLE = `
  FROM chunk c
  JOIN document d ON d.id = c.document_id AND d.current_version_id = c.version_id AND d.status = 'ready'
  WHERE c.tenant_id = $1::uuid`;

/**
 * Top-k chunks of the tenant's corpus for a query: lexical and vector search, fused by RRF. The
 * work of the `retrieveContext` step without its ledger row (the benchmark's bare-Temporal
 * baseline runs it too); usage of the query embedding goes to `entry`. `embedQuery`: the query's
 * embedding when another part of the step shares it (`sharedEmbedding`).
 */
export async function retrieve(
  deps: RetrieveDeps, entry: LedgerEntry, input: { tenantId: string; query: string; topK?: number }, embedQuery?: EmbedFor,
): Promise<ContextChunk[]> {
  const topK = Math.max(1, Math.min(input.topK ?? deps.topK, 50));
  const pool = topK * CANDIDATES_PER_RESULT;
  const any = await deps.db.$queryRawUnsafe<Array<{ n: bigint }>>(`SELECT count(*) AS n ${SEARCHABLE}`, input.tenantId);
  if (Number(any[0]?.n ?? 0) === 0) return [];

  const tsquery = orQuery(input.query);
  const lexical = tsquery
    ? await deps.db.$queryRawUnsafe<Array<{ id: string }>>(
        `SELECT c.id::text AS id ${SEARCHABLE} AND c.tsv @@ to_tsquery('english', $2)
         ORDER BY ts_rank_cd(c.tsv, to_tsquery('english', $2)) DESC, c.id LIMIT $3`,
        input.tenantId, tsquery, pool,
      )
    : [];
  let vector: Array<{ id: string }> = [];
  if (deps.embeddingModel) {
    const { vectors: [query], model } = embedQuery ? await embedQuery(entry) : await embed(deps, entry, deps.embeddingModel, [input.query]);
    // Vectors of different models are not comparable: chunks embedded by an older model are
    // left to lexical search until they are re-embedded (docs/caching.md, "Changing the embedding model").
    vector = await deps.db.$queryRawUnsafe<Array<{ id: string }>>(
      `SELECT c.id::text AS id ${SEARCHABLE} AND cardinality(c.embedding) = cardinality($2::real[])
         AND c.embedding_model IS NOT DISTINCT FROM $4
       ORDER BY (SELECT sum(a * b) FROM unnest(c.embedding, $2::real[]) AS t(a, b)) DESC, c.id LIMIT $3`,
      input.tenantId, query, pool, model,
    );
  }
  const fused = fuseRankings(lexical.map((r) => r.id), vector.map((r) => r.id), topK);
  if (fused.length === 0) return [];
  const rows = await deps.db.chunk.findMany({ where: { id: { in: fused.map((f) => f.id) }, tenantId: input.tenantId } });
  const byId = new Map(rows.map((r) => [r.id, r]));
  return fused.flatMap((f) => {
    const row = byId.get(f.id);
    return row
      ? [{ chunkId: row.id, documentId: row.documentId, versionId: row.versionId, page: row.page, heading: row.heading, text: row.text, score: Number(f.score.toFixed(6)), lexicalRank: f.lexicalRank, vectorRank: f.vectorRank }]
      : [];
  });
}

export function createRetrieveActivities(deps: RetrieveDeps) {
  return {
    /** Top-k chunks of the tenant's corpus for a query: lexical and vector search, fused by RRF. */
    async retrieveContext(input: { runId: string; tenantId: string; query: string; topK?: number }): Promise<ContextChunk[]> {
      // One row when the step ends (its only bill, the query embedding, is recorded with it, also on failure).
      return withLedger(deps.db, { runId: input.runId, tenantId: input.tenantId, step: 'retrieveContext' }, (entry) => retrieve(deps, entry, input), undefined, { recordStart: false });
    },

    /**
     * The answer workflow's cache lookup and retrieval in one activity (docs/lean-orchestration.md):
     * exact, then semantic lookup; on a miss, retrieval, with the question embedded once for both.
     * It keeps both steps' ledger rows (`cacheLookup`, then `retrieveContext` on a miss). It never
     * waits for an identical run that holds the single-flight lease: it answers `contended`, and the
     * workflow looks up again with the waiting `cacheLookup` activity, off the model-call queue.
     */
    async lookupAndRetrieve(input: CacheLookupInput): Promise<{ lookup: RunLookup; context?: ContextChunk[] }> {
      const { runId, tenantId, question } = input;
      const ctx = Context.current();
      const embedding = deps.embeddingModel
        ? { model: deps.embeddingModel, embed: sharedEmbedding(deps, deps.embeddingModel, question, ctx.cancellationSignal) }
        : undefined;
      // The lookup's row is written with retrieval's, or alone when the lookup ends the activity.
      const pending: LedgerOutcome[] = [];
      const lookup = await cacheLookupStep(deps, input, { part: 'cacheLookup', defer: pending, ...(embedding ? { embedQuestion: embedding } : {}) });
      if (lookup.hit || lookup.contended) {
        await writeLedgerRows(deps.db, pending);
        return { lookup };
      }
      try {
        const context = await withLedger(
          deps.db, { runId, tenantId, step: 'retrieveContext', part: 'retrieveContext' },
          (entry) => retrieve(deps, entry, { tenantId, query: question }, embedding?.embed), undefined, { recordStart: false, carry: pending },
        );
        return { lookup, context };
      } catch (err) {
        // The workflow never sees this lookup's ticket if the activity fails for good: let identical
        // runs go ahead now rather than wait out the lease. A retry that then succeeds runs without
        // the lease (an identical run may compute alongside it), which costs a model call, not a result.
        if (lookup.ticket?.leader) await deps.cache?.release(lookup.ticket, runId).catch(() => undefined);
        throw err;
      }
    },
  };
}
