/**
 * Offline groundedness: the answer is split into claims (sentences, citation markers removed)
 * and each claim gets a support score against the retrieved context — the share of its content
 * words (stop words dropped, crude suffix stemming) that occur in the context, with numbers
 * required to match exactly (a number the context never states is the commonest
 * hallucination). The threshold was chosen on groundedness/train (see docs/guardrails.md).
 */
const STOP = new Set(
  'a an the and or but if then so of to in on at by for with from as is are was were be been being it its this that these those there here i you he she we they me him her us them my your his our their what which who whom whose when where why how all any both each few more most other some such no nor not only own same than too very can will just do does did doing have has had having would could should may might must shall about above after again against below between into through during before under over up down out off once also yes well oh really like know think yeah sure lot much many get got go going one ones thing things something anything maybe actually pretty kind quite just great good nice lol haha hmm um uh ok okay love interesting fun cool'.split(' '),
);

export function stem(word: string): string {
  return word.replace(/(?:ings?|edly|ed|es|s|ly|ment|ness|ies|er|est)$/u, '').slice(0, 7);
}

export function contentWords(text: string): string[] {
  return (text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []).filter((w) => !STOP.has(w) && (w.length > 2 || /\d/.test(w))).map(stem);
}

export function splitClaims(answer: string): string[] {
  return answer
    .replace(/\s*\[[^\]\s]{4,}\]/g, '')
    .split(/(?<=[.!?])\s+(?=[\p{Lu}\d"“(])|\n+/u)
    .map((s) => s.trim())
    .filter((s) => contentWords(s).length > 0);
}

export interface ClaimSupport {
  /** Index of the claim in the answer; the text is not kept, the answer holds it. */
  index: number;
  score: number;
  supported: boolean;
}

export function supportScore(claim: string, contextWords: ReadonlySet<string>): number {
  const words = contentWords(claim);
  if (words.length === 0) return 1;
  const numbers = words.filter((w) => /\d/.test(w));
  if (numbers.some((n) => !contextWords.has(n))) return 0;
  return words.filter((w) => contextWords.has(w)).length / words.length;
}

export function scoreClaims(answer: string, context: readonly string[], minSupport: number): ClaimSupport[] {
  const words = new Set(context.flatMap(contentWords));
  return splitClaims(answer).map((claim, index) => {
    const score = Number(supportScore(claim, words).toFixed(3));
    return { index, score, supported: score >= minSupport };
  });
}
