/**
 * The semantic cache's in-process index at 10k and 100k entries of one partition (384-d, like
 * multilingual-e5-small). Vectors share a common direction, as e5's do (unrelated questions sit
 * at cosine ~0.75), and each lookup has one planted paraphrase (cosine ~0.97) that must be the
 * answer. Reports search p50/p99 and recall of the planted entry. `measureIndex` is the bench's
 * cache section's index row; `node --import tsx bench/cache-index.ts` runs it alone.
 */
import { VectorPartition } from '../src/cache/vector-partition';

const DIMS = 384;
/** mulberry32: a small seeded generator, so runs are comparable. */
let seed = 42;
const random = () => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296 - 0.5;
};
const unit = (v: Float32Array) => {
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
};
const common = unit(Float32Array.from({ length: DIMS }, random));
/** Like e5: every vector leans on one shared direction. */
const randomUnit = () => unit(Float32Array.from({ length: DIMS }, random));
const questionVector = () => {
  const r = randomUnit();
  return unit(Float32Array.from({ length: DIMS }, (_, j) => 0.85 * common[j]! + 0.5 * r[j]!));
};
/** A paraphrase: the same vector moved by a small random one (cosine ~0.97). */
const nudge = (v: Float32Array, amount: number) => {
  const r = randomUnit();
  return unit(v.map((x, j) => x + amount * r[j]!));
};
const dot = (a: Float32Array, b: Float32Array) => a.reduce((s, x, j) => s + x * b[j]!, 0);

function percentile(xs: number[], p: number): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export interface IndexMeasure {
  entries: number;
  lookups: number;
  searchMsP50: number;
  searchMsP99: number;
  recallOfPlanted: number;
  meanCosineToUnrelated: number;
  meanCosineToPlanted: number;
  memoryMiB: number;
}

/** Fills one partition with `size` entries and times `lookups` searches at `threshold`. */
export function measureIndex(size: number, lookups = 300, threshold = 0.955): IndexMeasure {
  seed = 42;
  const partition = new VectorPartition(DIMS);
  const stored: Float32Array[] = [];
  const expires = Date.now() + 3_600_000;
  for (let i = 0; i < size; i++) {
    const v = questionVector();
    stored.push(v);
    partition.add(`e${i}`, v, expires);
  }
  const times: number[] = [];
  let found = 0;
  let crowd = 0;
  let planted = 0;
  for (let k = 0; k < lookups; k++) {
    const target = Math.floor(Math.abs(random()) * 2 * size) % size;
    const query = nudge(stored[target]!, 0.25);
    crowd += dot(query, stored[(target + 1) % size]!);
    planted += dot(query, stored[target]!);
    const t = performance.now();
    const [best] = partition.search(query, threshold, Date.now());
    times.push(performance.now() - t);
    if (best?.entryId === `e${target}`) found++;
  }
  return {
    entries: size, lookups, searchMsP50: Number(percentile(times, 50).toFixed(2)), searchMsP99: Number(percentile(times, 99).toFixed(2)),
    recallOfPlanted: found / lookups, meanCosineToUnrelated: Number((crowd / lookups).toFixed(3)), meanCosineToPlanted: Number((planted / lookups).toFixed(3)),
    memoryMiB: Math.round(process.memoryUsage().rss / 1048576),
  };
}

if (require.main === module) {
  for (const size of [10_000, 100_000]) console.log(JSON.stringify(measureIndex(size)));
}
