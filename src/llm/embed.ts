import type OpenAI from 'openai';
import type { LedgerEntry } from '../activities/ledger';
import { toModelFailure } from './errors';
import { modelConfig } from './models';
import { estimateCostUsd, type PriceTable } from './pricing';

/**
 * The offline server's hashing vectors, named so they are never mistaken for a model's: they
 * cannot recognise a paraphrase, so the semantic cache refuses them.
 */
export const HASHING_EMBEDDING_MODEL = 'keel-offline-embed-1';

export interface Embeddings {
  /** Unit vectors, in input order. */
  vectors: number[][];
  /**
   * The model the endpoint says made them: record this, not the one asked for (the offline
   * server answers `keel-offline-embed-1` when it falls back to hashing vectors).
   */
  model: string;
}

export function unitVector(values: readonly number[]): number[] {
  const norm = Math.sqrt(values.reduce((s, v) => s + v * v, 0));
  return norm === 0 ? [...values] : values.map((v) => v / norm);
}

/**
 * The one way Keel embeds text: through the `openai` SDK (any OpenAI-compatible endpoint), adding
 * the tokens and cost to the calling step's ledger entry and mapping provider errors for Temporal.
 */
export async function embed(
  deps: { llm: OpenAI; prices: PriceTable },
  entry: LedgerEntry,
  model: string,
  input: string[],
  signal?: AbortSignal,
): Promise<Embeddings> {
  entry.usage.model = model;
  entry.lineage.modelConfig = modelConfig(deps.llm.baseURL, deps.prices, model);
  try {
    const res = await deps.llm.embeddings.create({ model, input }, { signal });
    const tokens = (entry.usage.tokensIn ?? 0) + (res.usage?.prompt_tokens ?? 0);
    entry.usage = { model: res.model, tokensIn: tokens, tokensOut: 0, costUsd: estimateCostUsd(deps.prices, res.model, tokens, 0) };
    return { vectors: [...res.data].sort((a, b) => a.index - b.index).map((d) => unitVector(d.embedding)), model: res.model };
  } catch (err) {
    if (signal?.aborted) throw signal.reason;
    throw toModelFailure(err);
  }
}

/** Embeds one text for whichever ledger entry asks: see `sharedEmbedding`. */
export type EmbedFor = (entry: LedgerEntry) => Promise<Embeddings>;

/**
 * One embedding of one text, shared by the parts of an activity that need it (the semantic cache
 * lookup and retrieval embed the same question): the first part to ask makes the call and is billed
 * for it; a later part's entry records the model its vector came from, with no tokens. A failed
 * call is not kept, so the next part to ask calls again.
 */
export function sharedEmbedding(deps: { llm: OpenAI; prices: PriceTable }, model: string, text: string, signal?: AbortSignal): EmbedFor {
  let made: Promise<Embeddings> | undefined;
  return async (entry) => {
    if (made) {
      const embeddings = await made;
      entry.usage = { model: embeddings.model, tokensIn: 0, tokensOut: 0, costUsd: 0 };
      entry.lineage.modelConfig = modelConfig(deps.llm.baseURL, deps.prices, model);
      return embeddings;
    }
    const call = embed(deps, entry, model, [text], signal);
    made = call;
    call.catch(() => {
      made = undefined;
    });
    return call;
  };
}
