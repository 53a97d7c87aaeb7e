/**
 * Trains the injection classifier (src/guardrails/classifier.ts) on the labelled `train` split
 * and writes src/guardrails/model/injection.json. Deterministic: a seeded shuffle and plain
 * AdaGrad, so the same data gives the same file byte for byte.
 *
 *   npm run train:guardrails [-- --data ../shared/data/injection/train.jsonl]
 *
 * The decision threshold is chosen on out-of-fold scores (5 folds over train), never on eval.
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { dot, MODEL_PATH, packWeights, sigmoid, type InjectionModelFile } from '../src/guardrails/classifier';
import { featurize, FEATURE_BITS, type SparseVector } from '../src/guardrails/features';
import { readLabelled, sharedDataDir } from '../src/guardrails/eval-data';

const EPOCHS = 12;
const LEARNING_RATE = 0.5;
const L2 = 1e-6;
const SEED = 20261202;
/** The threshold keeps the false-positive rate on held-out folds at or under this. */
const TARGET_FPR = 0.025;

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Example {
  x: SparseVector;
  y: number;
}

function train(examples: readonly Example[], seed: number): { weights: Float32Array; bias: number } {
  const weights = new Float32Array(1 << FEATURE_BITS);
  const grad2 = new Float32Array(1 << FEATURE_BITS).fill(1e-8);
  let bias = 0;
  let biasGrad2 = 1e-8;
  const order = examples.map((_, i) => i);
  const random = mulberry32(seed);
  // Class weights balance injection against benign so the bias is not learned from the mix.
  const positives = examples.filter((e) => e.y === 1).length;
  const wPos = examples.length / (2 * positives);
  const wNeg = examples.length / (2 * (examples.length - positives));
  for (let epoch = 0; epoch < EPOCHS; epoch++) {
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    for (const k of order) {
      const { x, y } = examples[k]!;
      const p = sigmoid(dot(weights, x) + bias);
      const g = (p - y) * (y === 1 ? wPos : wNeg);
      for (let i = 0; i < x.index.length; i++) {
        const f = x.index[i]!;
        const gi = g * x.value[i]! + L2 * weights[f]!;
        grad2[f]! += gi * gi;
        weights[f]! -= (LEARNING_RATE * gi) / Math.sqrt(grad2[f]!);
      }
      biasGrad2 += g * g;
      bias -= (LEARNING_RATE * g) / Math.sqrt(biasGrad2);
    }
  }
  return { weights, bias };
}

/** The lowest threshold whose false-positive rate on negatives is at most TARGET_FPR. */
function thresholdFor(scored: Array<{ score: number; y: number }>): number {
  const negatives = scored.filter((s) => s.y === 0).map((s) => s.score).sort((a, b) => b - a);
  const allowed = Math.floor(negatives.length * TARGET_FPR);
  return Number(((negatives[allowed] ?? 0.5) + 1e-6).toFixed(6));
}

/**
 * In the training data, benign texts are long and attacks short, so a linear model learns
 * "short means attack" and flags "hi" or "What does Keel do?". Benign fragments cut from the
 * benign training texts themselves (their first sentence, or their first 2–8 words) teach it
 * that length is not evidence. Only train rows are used.
 */
function benignFragments(rows: ReadonlyArray<{ text: string; label: string }>, seed: number): string[] {
  const random = mulberry32(seed ^ 0x5eed);
  const out: string[] = [];
  for (const r of rows) {
    if (r.label !== 'benign') continue;
    const sentence = /^[^.!?\n]{8,200}[.!?]/.exec(r.text.trim())?.[0];
    if (sentence && sentence.length < r.text.length * 0.8) out.push(sentence);
    const words = r.text.trim().split(/\s+/);
    if (words.length > 8 && random() < 0.3) out.push(words.slice(0, 4 + Math.floor(random() * 5)).join(" "));
  }
  return out;
}

function main(): void {
  const args = process.argv.slice(2);
  const dataArg = args.indexOf('--data');
  const file = dataArg >= 0 ? args[dataArg + 1]! : path.join(sharedDataDir(), 'injection', 'train.jsonl');
  const raw = readFileSync(file);
  const rows = readLabelled<{ text: string; label: string }>(file);
  const examples = rows.map((r) => ({ x: featurize(r.text), y: r.label === 'injection' ? 1 : 0 }));
  const shortBenign = benignFragments(rows, SEED).map((text) => ({ x: featurize(text), y: 0 }));

  const folds = 5;
  const outOfFold: Array<{ score: number; y: number }> = [];
  for (let f = 0; f < folds; f++) {
    const model = train([...examples.filter((_, i) => i % folds !== f), ...shortBenign.filter((_, i) => i % folds !== f)], SEED + f);
    examples.forEach((e, i) => {
      if (i % folds === f) outOfFold.push({ score: sigmoid(dot(model.weights, e.x) + model.bias), y: e.y });
    });
  }
  const threshold = thresholdFor(outOfFold);
  const tp = outOfFold.filter((s) => s.y === 1 && s.score >= threshold).length;
  const positives = outOfFold.filter((s) => s.y === 1).length;

  const { weights, bias } = train([...examples, ...shortBenign], SEED);
  const packed = packWeights(weights);
  const model: InjectionModelFile = {
    version: `injection-lr-${createHash('sha256').update(packed.weights).digest('hex').slice(0, 12)}`,
    featureBits: FEATURE_BITS,
    scale: packed.scale,
    bias: Number(bias.toFixed(6)),
    threshold,
    weights: packed.weights,
    trainedOn: { file: path.relative(process.cwd(), file), rows: rows.length, sha256: createHash('sha256').update(raw).digest('hex') },
  };
  writeFileSync(MODEL_PATH, `${JSON.stringify(model, null, 1)}\n`);
  console.log(`trained on ${rows.length} rows; out-of-fold recall ${(tp / positives).toFixed(3)} at FPR ≤ ${TARGET_FPR} (threshold ${threshold}); wrote ${path.relative(process.cwd(), MODEL_PATH)} (${model.version})`);
}

main();
