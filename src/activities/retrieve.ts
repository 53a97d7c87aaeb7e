import type OpenAI from 'openai';
import type { Db } from '../db/client';
import { toModelFailure } from '../llm/errors';
import { modelConfig } from '../llm/models';
import { estimateCostUsd, type PriceTable } from '../llm/pricing';
import type { ContextChunk } from '../shared';
import { withLedger, type LedgerEntry } from './ledger';

export interface RetrieveDeps {
  db: Db;
  llm: OpenAI;
  prices: PriceTable;
  embeddingModel: string | undefined;
  topK: number;
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

export function unitVector(values: readonly number[]): number[] {
  const norm = Math.sqrt(values.reduce((s, v) => s + v * v, 0));
  return norm === 0 ? [...values] : values.map((v) => v / norm);
}

export async function embedTexts(deps: Pick<RetrieveDeps, 'llm' | 'prices'>, entry: LedgerEntry, model: string, input: string[], signal?: AbortSignal): Promise<number[][]> {
  entry.usage.model = model;
  entry.lineage.modelConfig = modelConfig(deps.llm.baseURL, deps.prices, model);
  try {
    const res = await deps.llm.embeddings.create({ model, input }, { signal });
    const tokens = res.usage?.prompt_tokens ?? 0;
    entry.usage = {
      model: res.model,
      tokensIn: (entry.usage.tokensIn ?? 0) + tokens,
      tokensOut: 0,
      costUsd: estimateCostUsd(deps.prices, res.model, (entry.usage.tokensIn ?? 0) + tokens, 0),
    };
    return [...res.data].sort((a, b) => a.index - b.index).map((d) => unitVector(d.embedding));
  } catch (err) {
    if (signal?.aborted) throw signal.reason;
    throw toModelFailure(err);
  }
}

/** Only the current version of a ready, undeleted document is searchable. */
const SEARCHABLE = `
  FROM chunk c
  JOIN document d ON d.id = c.document_id AND d.current_version_id = c.version_id AND d.status = 'ready'
  WHERE c.tenant_id = $1::uuid`;

export function createRetrieveActivities(deps: RetrieveDeps) {
  return {
    /** Top-k chunks of the tenant's corpus for a query: lexical and vector search, fused by RRF. */
    async retrieveContext(input: { runId: string; tenantId: string; query: string; topK?: number }): Promise<ContextChunk[]> {
      return withLedger(deps.db, { runId: input.runId, tenantId: input.tenantId, step: 'retrieveContext' }, async (entry) => {
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
          const [query] = await embedTexts(deps, entry, deps.embeddingModel, [input.query]);
          vector = await deps.db.$queryRawUnsafe<Array<{ id: string }>>(
            `SELECT c.id::text AS id ${SEARCHABLE} AND cardinality(c.embedding) = cardinality($2::real[])
             ORDER BY (SELECT sum(a * b) FROM unnest(c.embedding, $2::real[]) AS t(a, b)) DESC, c.id LIMIT $3`,
            input.tenantId, query, pool,
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
      });
    },
  };
}
