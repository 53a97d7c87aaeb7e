/**
 * Text primitives shared by answering, embeddings and schema filling. Everything here is a
 * pure function of its input so the offline model gives the same output on every machine.
 */

const STOPWORDS = new Set(
  (
    'a about above after again against all am an and any are as at be because been before being below between ' +
    'both but by can could did do does doing down during each few for from further had has have having he her ' +
    'here hers herself him himself his how i if in into is it its itself just me more most my myself no nor not ' +
    'now of off on once only or other our ours ourselves out over own same she should so some such than that the ' +
    'their theirs them themselves then there these they this those through to too under until up very was we were ' +
    'what when where which while who whom why will with would you your yours yourself yourselves ' +
    'tell please give explain describe according document documents question answer'
  ).split(' '),
);

/** Lowercased words, including stopwords, in order. */
export function words(text: string): string[] {
  return text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
}

/**
 * A crude plural fold so "policies"/"policy" and "refunds"/"refund" meet; a real stemmer
 * would be more accurate but this keeps scoring obvious to anyone reading a test.
 */
function fold(word: string): string {
  if (word.length > 4 && word.endsWith('ies')) return `${word.slice(0, -3)}y`;
  if (word.length > 3 && word.endsWith('s') && !word.endsWith('ss')) return word.slice(0, -1);
  return word;
}

/** Content tokens: lowercased, stopwords removed, plurals folded. */
export function contentTokens(text: string): string[] {
  return words(text)
    .filter((w) => !STOPWORDS.has(w))
    .map(fold);
}

/**
 * Sentences of a passage. Splits after . ! ? followed by whitespace, and on blank lines or
 * line breaks so bullet lists become separate sentences.
 */
export function sentences(text: string): string[] {
  return text
    .split(/\n+|(?<=[.!?])\s+(?=[\p{Lu}\p{N}"'([])/u)
    .map((s) => s.replace(/\s+/g, ' ').trim())
    .filter((s) => /[\p{L}\p{N}]/u.test(s));
}

/** 32-bit FNV-1a: fast, dependency-free and stable across platforms. */
export function fnv1a(text: string, seed = 0x811c9dc5): number {
  let h = seed >>> 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** OpenAI's rule of thumb, about four characters per token; good enough for budgets and usage. */
export function approxTokens(text: string): number {
  return Math.ceil(text.length / 4);
}
