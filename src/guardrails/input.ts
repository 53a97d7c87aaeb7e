import type { BlockReason, GuardrailDecision } from './decision';
import { timed } from './decision';
import { isInjection, scanInjection } from './injection';
import { maskSpans, type VaultEntry } from './mask';
import { sanitize } from './normalize';
import { detectPii } from './pii';
import type { GuardrailPolicy } from './policy';

/**
 * The input stack, before any model call, cache key, log line or stored input: limits →
 * sanitize → injection (rules + classifier, hidden payloads included) → PII/secret masking.
 * Pure: the activity around it records, seals and counts.
 */
export interface InputCheck {
  /** What the rest of the run may see: sanitized, PII replaced by placeholders. */
  text: string;
  blocked: BlockReason[];
  decisions: GuardrailDecision[];
  /** The originals behind the placeholders: sealed into the run's vault, never returned to a workflow. */
  entries: VaultEntry[];
}

/** Characters per token, the usual estimate for English BPE tokenizers. */
export const CHARS_PER_TOKEN = 4;

export function checkInput(raw: string, policy: GuardrailPolicy): InputCheck {
  const decisions: GuardrailDecision[] = [];
  const blocked: BlockReason[] = [];

  const estimatedTokens = Math.ceil(raw.length / CHARS_PER_TOKEN);
  const overChars = raw.length > policy.limits.maxChars;
  const overTokens = estimatedTokens > policy.limits.maxTokens;
  decisions.push({ layer: 'limits', rule: overChars ? 'max-chars' : overTokens ? 'max-tokens' : 'within-limits', action: overChars || overTokens ? 'blocked' : 'pass', latencyMs: 0, counts: { chars: raw.length, estimatedTokens } });
  if (overChars || overTokens) {
    blocked.push({ layer: 'limits', rule: overChars ? 'max-chars' : 'max-tokens' });
    return { text: '', blocked, decisions, entries: [] };
  }

  const clean = timed(() => sanitize(raw));
  const removed = Object.entries(clean.value.removed).filter(([, n]) => n > 0);
  decisions.push({ layer: 'sanitize', rule: 'nfkc+invisible+bidi+tag+control', action: removed.length > 0 ? 'modified' : 'pass', latencyMs: clean.ms, ...(removed.length ? { counts: Object.fromEntries(removed) } : {}) });
  const text = clean.value.text;

  if (policy.injection.action !== 'off') {
    const scan = timed(() => scanInjection(text, clean.value.hidden, policy.injection.threshold));
    const hit = isInjection(scan.value, policy.injection.rules);
    const ruleHit = policy.injection.rules && scan.value.rules.length > 0;
    const strong = !scan.value.short && scan.value.score >= Math.max(scan.value.threshold, policy.injection.blockAt);
    const blocking = policy.injection.action === 'block' && (ruleHit || strong);
    const action = hit ? (blocking ? 'blocked' : 'flagged') : 'pass';
    if (scan.value.decoded > 0) decisions.push({ layer: 'decode', rule: 'base64+hex+percent+tags', action: 'pass', latencyMs: 0, counts: { payloads: scan.value.decoded } });
    const ruleHits = policy.injection.rules ? scan.value.rules.map((r) => r.id) : [];
    decisions.push({ layer: 'rules', rule: ruleHits.join(',') || scan.value.rulesVersion, action: ruleHits.length ? action : 'pass', latencyMs: 0 });
    const classifierHit = scan.value.score >= scan.value.threshold;
    const classifierAction = !classifierHit ? 'pass' : strong && policy.injection.action === 'block' ? 'blocked' : 'flagged';
    decisions.push({ layer: 'classifier', rule: scan.value.short && classifierHit ? `${scan.value.model}:short-text` : scan.value.model, score: scan.value.score, action: classifierAction, latencyMs: scan.ms });
    if (action === 'blocked') {
      if (strong) blocked.push({ layer: 'classifier', rule: scan.value.model, score: scan.value.score });
      for (const id of ruleHits) blocked.push({ layer: 'rules', rule: id });
      return { text: '', blocked, decisions, entries: [] };
    }
  }

  if (policy.pii.action === 'off') return { text, blocked, decisions, entries: [] };
  const found = timed(() => detectPii(text, { types: policy.pii.types }));
  const counts: Record<string, number> = {};
  for (const s of found.value) counts[s.type] = (counts[s.type] ?? 0) + 1;
  const detectors = [...new Set(found.value.map((s) => s.detector))].join(',') || 'pii-detectors';
  if (found.value.length === 0) {
    decisions.push({ layer: 'pii', rule: detectors, action: 'pass', latencyMs: found.ms });
    return { text, blocked, decisions, entries: [] };
  }
  if (policy.pii.action === 'block') {
    decisions.push({ layer: 'pii', rule: detectors, action: 'blocked', latencyMs: found.ms, counts });
    for (const type of Object.keys(counts)) blocked.push({ layer: 'pii', rule: type });
    return { text: '', blocked, decisions, entries: [] };
  }
  const masked = maskSpans(text, found.value);
  decisions.push({ layer: 'pii', rule: detectors, action: 'masked', latencyMs: found.ms, counts });
  return { text: masked.text, blocked, decisions, entries: masked.entries };
}

/** Indirect injection: a retrieved chunk or extraction source through layers 1–2. */
export function screenText(raw: string, policy: Pick<GuardrailPolicy, 'injection'>): { flagged: boolean; decision: GuardrailDecision } {
  const clean = sanitize(raw);
  const scan = timed(() => scanInjection(clean.text, clean.hidden, policy.injection.threshold));
  const flagged = isInjection(scan.value, policy.injection.rules);
  const rule = flagged && scan.value.rules.length && policy.injection.rules ? scan.value.rules.map((r) => r.id).join(',') : scan.value.model;
  return { flagged, decision: { layer: 'context', rule, score: scan.value.score, action: flagged ? 'dropped' : 'pass', latencyMs: scan.ms } };
}
