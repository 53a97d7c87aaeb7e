import { foldForDetection } from './normalize';

/**
 * Hashed n-gram features for the injection classifier: word unigrams and bigrams plus
 * character 3–5-grams inside word boundaries, over folded text (so homoglyphs, leetspeak and
 * spacing tricks land on the same features). The hashing trick keeps the model a fixed size
 * without a vocabulary file; 2^16 buckets keep the shipped weights near 170 KB.
 */
export const FEATURE_BITS = 16;
const MASK = (1 << FEATURE_BITS) - 1;
/** Longer texts are scored on their head and tail: attacks sit at either end far more than in the middle. */
export const MAX_FEATURE_CHARS = 6000;

function fnv1a(text: string, seed: number): number {
  let h = 0x811c9dc5 ^ seed;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export interface SparseVector {
  index: Int32Array;
  value: Float32Array;
}

export function clip(text: string): string {
  if (text.length <= MAX_FEATURE_CHARS) return text;
  const half = MAX_FEATURE_CHARS / 2;
  return `${text.slice(0, half)} ${text.slice(-half)}`;
}

export function featurize(raw: string): SparseVector {
  const text = foldForDetection(clip(raw));
  const words = text.match(/[\p{L}\p{N}]+|[^\s\p{L}\p{N}]/gu) ?? [];
  const counts = new Map<number, number>();
  const add = (key: string, seed: number) => {
    const h = fnv1a(key, seed) & MASK;
    counts.set(h, (counts.get(h) ?? 0) + 1);
  };
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    add(w, 1);
    if (i + 1 < words.length) add(`${w} ${words[i + 1]!}`, 2);
    if (w.length < 3 || !/\p{L}/u.test(w)) continue;
    const padded = ` ${w} `;
    for (let n = 3; n <= 5; n++) {
      for (let j = 0; j + n <= padded.length; j++) add(padded.slice(j, j + n), 3 + n);
    }
  }
  // Log-scaled counts, L2-normalised: long texts do not win by length alone.
  const index = new Int32Array(counts.size);
  const value = new Float32Array(counts.size);
  let k = 0;
  let norm = 0;
  for (const [h, c] of counts) {
    const v = 1 + Math.log(c);
    index[k] = h;
    value[k] = v;
    norm += v * v;
    k++;
  }
  norm = Math.sqrt(norm) || 1;
  for (let i = 0; i < value.length; i++) value[i]! /= norm;
  return { index, value };
}
