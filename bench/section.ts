import type { BenchOptions } from './options';
import type { BenchStack } from './stack';

export interface BenchContext {
  stack: BenchStack;
  options: BenchOptions;
  /** Reports of the sections that already ran, for a section that explains its numbers by theirs. */
  earlier: readonly SectionReport[];
  /** Progress goes to stderr so stdout carries only the report. */
  progress(message: string): void;
}

export interface SectionOutcome {
  /** One markdown paragraph: what was run, how, and against what. */
  setup: string;
  columns: string[];
  rows: string[][];
  /** The raw numbers behind the table, for latest.json and for comparing runs. */
  metrics: Record<string, unknown>;
  failures: { count: number; samples: string[] };
  notes: string[];
}

/**
 * One measured thing. Later sections (ingestion pages/s, cache hit ratios) are new entries in
 * run.ts's `sections` array; each gets the running stack and returns its own table.
 */
export interface Section {
  id: string;
  title: string;
  run(ctx: BenchContext): Promise<SectionOutcome>;
}

export interface SectionReport extends SectionOutcome {
  id: string;
  title: string;
  durationMs: number;
  /** Set when the section itself threw; its table is then empty. */
  error?: string;
}

/** Keep the failure list readable: the count is exact, the samples are the first few distinct messages. */
export function failureSamples(errors: readonly string[], max = 5): string[] {
  return [...new Set(errors)].slice(0, max);
}
