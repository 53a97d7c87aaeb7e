import { fnv1a, words } from './text';

export { HASHING_EMBEDDING_MODEL } from '../llm/embed';

/**
 * The fallback when the real offline model (sentence-embedder.ts) is not installed, and the
 * answer to any other embedding model name. Deterministic embeddings by feature hashing: each word and each character trigram adds
 * ±weight to one of `dimensions` buckets, then the vector is scaled to unit length. Texts
 * sharing words and spellings land close together, and the same text always gets the same
 * vector, but they cannot tell a paraphrase from a different question: no semantic cache runs
 * on them (src/cache refuses hashing vectors).
 */
export const DEFAULT_EMBEDDING_DIMENSIONS = 256;

const WORD_WEIGHT = 1;
const TRIGRAM_WEIGHT = 0.5;

export function embedText(text: string, dimensions = DEFAULT_EMBEDDING_DIMENSIONS): Float32Array {
  const vector = new Float64Array(dimensions);
  const add = (feature: string, weight: number) => {
    const h = fnv1a(feature);
    // The top bit picks the sign so colliding features cancel on average instead of piling up.
    vector[h % dimensions]! += h & 0x80000000 ? -weight : weight;
  };
  const tokens = words(text);
  for (const w of tokens) add(`w:${w}`, WORD_WEIGHT);
  for (const w of tokens) {
    const padded = ` ${w} `;
    for (let i = 0; i + 3 <= padded.length; i++) add(`t:${padded.slice(i, i + 3)}`, TRIGRAM_WEIGHT);
  }

  let norm = Math.sqrt(vector.reduce((sum, v) => sum + v * v, 0));
  if (norm === 0) {
    // Text with no words still needs a unit vector; give all such texts the same one.
    add('empty', 1);
    norm = 1;
  }
  return Float32Array.from(vector, (v) => v / norm);
}

/** The `encoding_format: 'base64'` wire form the openai SDK asks for by default: little-endian float32. */
export function toBase64(vector: Float32Array): string {
  const bytes = Buffer.alloc(vector.length * 4);
  vector.forEach((v, i) => bytes.writeFloatLE(v, i * 4));
  return bytes.toString('base64');
}
