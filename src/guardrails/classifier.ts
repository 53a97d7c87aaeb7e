import { readFileSync } from 'node:fs';
import path from 'node:path';
import { featurize, FEATURE_BITS, type SparseVector } from './features';

/**
 * The injection/jailbreak classifier: logistic regression over hashed n-grams
 * (`scripts/train-guardrails.ts` trains it on the `train` split; the weights ship as
 * `model/injection.json`). Weights are int16-quantised and base64-packed to keep the file small.
 */
export interface InjectionModelFile {
  version: string;
  featureBits: number;
  scale: number;
  bias: number;
  /** Score at or above which a text counts as an injection, chosen on out-of-fold train scores. */
  threshold: number;
  weights: string;
  trainedOn: { file: string; rows: number; sha256: string };
}

export interface InjectionModel {
  version: string;
  threshold: number;
  score(text: string): number;
}

export const MODEL_PATH = path.join(__dirname, 'model', 'injection.json');

export function sigmoid(z: number): number {
  return 1 / (1 + Math.exp(-z));
}

export function dot(weights: Float32Array, x: SparseVector): number {
  let s = 0;
  for (let i = 0; i < x.index.length; i++) s += weights[x.index[i]!]! * x.value[i]!;
  return s;
}

export function packWeights(weights: Float32Array): { scale: number; weights: string } {
  let max = 0;
  for (const w of weights) max = Math.max(max, Math.abs(w));
  const scale = max / 32767 || 1;
  const q = new Int16Array(weights.length);
  for (let i = 0; i < weights.length; i++) q[i] = Math.round(weights[i]! / scale);
  return { scale, weights: Buffer.from(q.buffer).toString('base64') };
}

export function modelFromFile(file: InjectionModelFile): InjectionModel {
  if (file.featureBits !== FEATURE_BITS) throw new Error(`injection model has ${file.featureBits} feature bits; code expects ${FEATURE_BITS}`);
  const bytes = Buffer.from(file.weights, 'base64');
  const q = new Int16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2);
  const weights = new Float32Array(q.length);
  for (let i = 0; i < q.length; i++) weights[i] = q[i]! * file.scale;
  return {
    version: file.version,
    threshold: file.threshold,
    score: (text) => sigmoid(dot(weights, featurize(text)) + file.bias),
  };
}

let loaded: InjectionModel | undefined;

/** The shipped model, read once per process. */
export function injectionModel(): InjectionModel {
  loaded ??= modelFromFile(JSON.parse(readFileSync(MODEL_PATH, 'utf8')) as InjectionModelFile);
  return loaded;
}
