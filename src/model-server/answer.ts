import type { ContextDocument, KeelPrompt } from './prompt';
import { contentTokens, fnv1a, sentences } from './text';

/**
 * Deterministic extractive answering: the offline model quotes the context sentences that
 * share the most (rare) words with the question and cites the chunk each came from. It
 * can't reason, but it is grounded, cites correctly and is identical on every run, which
 * is what workflow tests and benchmarks need from a model.
 */

export interface RankedSentence {
  readonly documentId: string;
  readonly text: string;
  readonly score: number;
}

export interface Answer {
  readonly text: string;
  /** Chunk ids in the order they are first cited. */
  readonly citations: readonly string[];
  /** The quoted sentences, without citation markers. */
  readonly quotes: readonly string[];
}

export interface AnswerOptions {
  /** Which of the n choices this is; 0 is the best answer, others reorder or swap sentences. */
  readonly variant: number;
  /** Narrows the pool of sentences later variants may draw from, as top_p narrows sampling. */
  readonly topP: number;
}

const MAX_SENTENCES = 3;
const MAX_POOL = 5;
const RELEVANCE_RATIO = 0.75;

/**
 * Scores every sentence by the inverse-document-frequency weight of the question words it
 * contains, so a sentence matching "refund window" beats one matching only "policy".
 * Ties keep document order, which makes the ranking total and stable.
 */
export function rankSentences(documents: readonly ContextDocument[], question: string): RankedSentence[] {
  const all = documents.flatMap((doc) =>
    sentences(doc.text).map((text) => ({ documentId: doc.id, text, tokens: new Set(contentTokens(text)) })),
  );
  const documentFrequency = new Map<string, number>();
  for (const s of all) for (const t of s.tokens) documentFrequency.set(t, (documentFrequency.get(t) ?? 0) + 1);

  const questionTokens = new Set(contentTokens(question));
  const scored = all.map((s, order) => {
    let score = 0;
    for (const t of questionTokens) {
      if (s.tokens.has(t)) score += Math.log(1 + all.length / (documentFrequency.get(t) ?? 1));
    }
    return { documentId: s.documentId, text: s.text, score, order };
  });
  scored.sort((a, b) => b.score - a.score || a.order - b.order);
  return scored.map(({ documentId, text, score }) => ({ documentId, text, score }));
}

export function answerQuestion(prompt: KeelPrompt, options: AnswerOptions): Answer {
  if (prompt.documents.length === 0) {
    return { text: `Offline model answer to: "${prompt.question}"`, citations: [], quotes: [] };
  }
  const relevant = rankSentences(prompt.documents, prompt.question).filter((s) => s.score > 0);
  const best = relevant[0];
  if (!best) {
    return {
      text: `The provided documents do not answer: "${prompt.question}" (offline model).`,
      citations: [],
      quotes: [],
    };
  }

  const pool = relevant.slice(0, Math.max(1, Math.ceil(Math.min(MAX_POOL, relevant.length) * options.topP)));
  // Quote only sentences nearly as relevant as the best one, so a single clear answer stays short.
  const size = Math.min(MAX_SENTENCES, pool.filter((s) => s.score >= best.score * RELEVANCE_RATIO).length);
  const lead = pool[options.variant % pool.length] ?? best;
  const picked = [lead, ...pool.filter((s) => s !== lead)].slice(0, Math.max(1, size));

  const citations = [...new Set(picked.map((s) => s.documentId))];
  return {
    text: picked.map((s) => `${s.text} [${s.documentId}]`).join(' '),
    citations,
    quotes: picked.map((s) => s.text),
  };
}

/** A judge score from 1 to 10 that depends only on the candidate text. */
export function judgeScore(candidate: string): number {
  return 1 + (fnv1a(candidate.trim()) % 10);
}
