/**
 * One semantic-cache partition held in process memory: unit vectors, their sign bits, and the
 * cache entry each belongs to. Search is exact cosine over a shortlist chosen by Hamming
 * distance between sign bits (binary quantisation with rescoring): the Hamming pass reads 48
 * bytes per entry instead of 1.5 KB, so 100k entries take a few milliseconds in plain
 * JavaScript, and the shortlist is rescored exactly. Sign bits estimate the angle between two
 * vectors (the share of differing bits is about angle / π), so the entry a threshold of 0.9+
 * would accept sits far ahead of the crowd and is always in the shortlist. Why not HNSW or a
 * vector database: docs/caching.md.
 */
export interface PartitionMatch {
  entryId: string;
  similarity: number;
}

const SHORTLIST = 64;

function popcount(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (((x + (x >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

export class VectorPartition {
  private readonly words: number;
  private capacity = 0;
  private vectors = new Float32Array(0);
  private bits = new Uint32Array(0);
  private expiresAt = new Float64Array(0);
  private entryIds: string[] = [];
  private readonly positions = new Map<string, number>();
  size = 0;
  /** The last Redis stream id this partition has read (see ResultCache). */
  cursor = '0-0';
  lastUsed = 0;

  constructor(readonly dimensions: number) {
    this.words = Math.ceil(dimensions / 32);
  }

  /** Adds (or refreshes) an entry. Vectors must be unit length. */
  add(entryId: string, vector: ArrayLike<number>, expiresAtMs: number): void {
    if (vector.length !== this.dimensions) return;
    let at = this.positions.get(entryId);
    if (at === undefined) {
      if (this.size === this.capacity) this.grow();
      at = this.size++;
      this.positions.set(entryId, at);
      this.entryIds[at] = entryId;
    }
    const offset = at * this.dimensions;
    const bitOffset = at * this.words;
    this.bits.fill(0, bitOffset, bitOffset + this.words);
    for (let j = 0; j < this.dimensions; j++) {
      const v = vector[j]!;
      this.vectors[offset + j] = v;
      if (v > 0) this.bits[bitOffset + (j >>> 5)]! |= 1 << (j & 31);
    }
    this.expiresAt[at] = expiresAtMs;
  }

  private grow(): void {
    const capacity = Math.max(256, this.capacity * 2);
    const vectors = new Float32Array(capacity * this.dimensions);
    vectors.set(this.vectors);
    const bits = new Uint32Array(capacity * this.words);
    bits.set(this.bits);
    const expiresAt = new Float64Array(capacity);
    expiresAt.set(this.expiresAt);
    this.vectors = vectors;
    this.bits = bits;
    this.expiresAt = expiresAt;
    this.capacity = capacity;
  }

  /** Entries at or above `threshold`, most similar first, skipping expired ones. */
  search(query: ArrayLike<number>, threshold: number, nowMs: number, limit = 5): PartitionMatch[] {
    if (this.size === 0 || query.length !== this.dimensions) return [];
    const D = this.dimensions;
    const W = this.words;
    const qbits = new Uint32Array(W);
    for (let j = 0; j < D; j++) if (query[j]! > 0) qbits[j >>> 5]! |= 1 << (j & 31);

    // Pass 1: Hamming distance of every live entry, and a histogram to find the shortlist's cut.
    const { bits, vectors, expiresAt, size } = this;
    const distances = new Uint16Array(size);
    const histogram = new Uint32Array(D + 2);
    for (let r = 0; r < size; r++) {
      if (expiresAt[r]! <= nowMs) {
        distances[r] = D + 1;
        continue;
      }
      let h = 0;
      const o = r * W;
      for (let w = 0; w < W; w++) h += popcount(bits[o + w]! ^ qbits[w]!);
      distances[r] = h;
      histogram[h]!++;
    }
    let cut = 0;
    for (let seen = 0; cut <= D && seen + histogram[cut]! <= SHORTLIST; cut++) seen += histogram[cut]!;
    // Entries at the cut distance are included too (ties), so the shortlist may pass SHORTLIST a little.

    // Pass 2: exact cosine (dot product of unit vectors) over the shortlist.
    const matches: PartitionMatch[] = [];
    for (let r = 0; r < size; r++) {
      if (distances[r]! > cut) continue;
      let dot = 0;
      const o = r * D;
      for (let j = 0; j < D; j++) dot += vectors[o + j]! * query[j]!;
      if (dot >= threshold) matches.push({ entryId: this.entryIds[r]!, similarity: dot });
    }
    return matches.sort((a, b) => b.similarity - a.similarity).slice(0, limit);
  }
}
