/**
 * Scorers: each turns a case's output into a number in [0, 1]. A case passes when every scorer
 * its expectation names scores 1 (the judge: ≥ 0.7). They are deterministic and need no model,
 * except the optional judge, which grades through the configured endpoint like any model call.
 */
import type { EvalExpectation } from './dataset';

export type ScoreName = 'exact' | 'contains' | 'json' | 'grounded' | 'judge';
export type Scores = Partial<Record<ScoreName, number>>;

/** What a finished run gave the evaluation to score. */
export interface CaseOutput {
  /** The answer text, or the extracted object serialised. */
  text: string;
  data?: unknown;
  citations: string[];
  retrieved: string[];
}

const fold = (s: string) => s.normalize('NFKC').toLowerCase().replace(/\s+/g, ' ').trim();

function fieldMatches(expected: unknown, actual: unknown): boolean {
  if (typeof expected === 'string') return typeof actual === 'string' && fold(actual).includes(fold(expected));
  if (expected !== null && typeof expected === 'object' && !Array.isArray(expected)) {
    if (actual === null || typeof actual !== 'object' || Array.isArray(actual)) return false;
    return Object.entries(expected).every(([k, v]) => fieldMatches(v, (actual as Record<string, unknown>)[k]));
  }
  return JSON.stringify(expected) === JSON.stringify(actual);
}

export function scoreCase(expect: EvalExpectation, output: CaseOutput, judge?: number): Scores {
  const scores: Scores = {};
  if (expect.exact !== undefined) scores.exact = fold(output.text) === fold(expect.exact) ? 1 : 0;
  if (expect.contains) scores.contains = expect.contains.filter((s) => fold(output.text).includes(fold(s))).length / expect.contains.length;
  if (expect.json) {
    const fields = Object.entries(expect.json);
    const data = output.data as Record<string, unknown> | null | undefined;
    scores.json = fields.filter(([k, v]) => data != null && typeof data === 'object' && fieldMatches(v, data[k])).length / fields.length;
  }
  if (expect.grounded) {
    const retrieved = new Set(output.retrieved);
    scores.grounded = output.citations.length > 0 && output.citations.every((c) => retrieved.has(c)) ? 1 : 0;
  }
  if (expect.judge !== undefined && judge !== undefined) scores.judge = judge;
  return scores;
}

export function passed(scores: Scores): boolean {
  return Object.entries(scores).every(([name, value]) => (name === 'judge' ? value >= 0.7 : value === 1));
}
