/**
 * One guardrail decision, as it goes to the ledger, the event history and metrics. It names
 * the rule or model and the score, never the text that triggered it.
 */
export const GUARDRAIL_LAYERS = ['limits', 'sanitize', 'decode', 'rules', 'classifier', 'pii', 'context', 'schema', 'safety', 'brand', 'leak', 'canary', 'groundedness'] as const;
export type GuardrailLayer = (typeof GUARDRAIL_LAYERS)[number];

export type GuardrailAction = 'pass' | 'modified' | 'flagged' | 'masked' | 'dropped' | 'annotated' | 'regenerate' | 'blocked';

export interface GuardrailDecision {
  layer: GuardrailLayer;
  /** Rule id, model version or detector names; never user content. */
  rule: string;
  score?: number;
  action: GuardrailAction;
  latencyMs: number;
  /** Counts only (e.g. `{ EMAIL_ADDRESS: 2 }`). */
  counts?: Record<string, number>;
}

/** Why a run was blocked: machine-readable, free of the content that caused it. */
export interface BlockReason {
  layer: GuardrailLayer;
  rule: string;
  score?: number;
}

export function timed<T>(fn: () => T): { value: T; ms: number } {
  const t0 = performance.now();
  const value = fn();
  return { value, ms: Number((performance.now() - t0).toFixed(3)) };
}
