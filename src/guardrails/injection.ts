import { injectionModel } from './classifier';
import { decodePayloads } from './decode';
import { foldForDetection, sanitize } from './normalize';
import { matchRules, RULES_VERSION, type RuleHit } from './rules';

/**
 * Layers 1–2 on one text: the attack-pattern rules and the classifier, run on the text itself
 * and on everything hidden in it (tag-character ASCII, base64/hex/percent payloads). The
 * highest score and every rule hit count.
 */
export interface InjectionScan {
  score: number;
  threshold: number;
  /** Fewer than MIN_BLOCKING_WORDS words in every scanned text: a classifier hit only flags. */
  short: boolean;
  rules: RuleHit[];
  /** How many hidden payloads were decoded and scanned. */
  decoded: number;
  model: string;
  rulesVersion: string;
}

/**
 * Below this many words the classifier may flag a text but not block it (rules still block):
 * the training data's attacks are short and its benign texts long, so the classifier reads
 * "hi" or "one more" as attacks; three words carry too little evidence to stop a run on.
 */
export const MIN_BLOCKING_WORDS = 4;

function wordCount(text: string): number {
  return text.match(/[\p{L}\p{N}]+/gu)?.length ?? 0;
}

export function scanInjection(sanitizedText: string, hidden = '', threshold?: number): InjectionScan {
  const model = injectionModel();
  const payloads = decodePayloads(sanitizedText).map((p) => p.text);
  if (hidden) payloads.push(hidden, ...decodePayloads(hidden).map((p) => p.text));
  const texts = [sanitizedText, ...payloads.map((p) => sanitize(p).text)];
  let score = 0;
  let short = true;
  const rules = new Map<string, RuleHit>();
  for (const t of texts) {
    const s = model.score(t);
    if (s > score) score = s;
    if (s >= (threshold ?? model.threshold) && wordCount(t) >= MIN_BLOCKING_WORDS) short = false;
    for (const hit of matchRules(foldForDetection(t))) rules.set(hit.id, hit);
  }
  return { score: Number(score.toFixed(4)), threshold: threshold ?? model.threshold, short, rules: [...rules.values()], decoded: payloads.length, model: model.version, rulesVersion: RULES_VERSION };
}

export function isInjection(scan: InjectionScan, useRules: boolean): boolean {
  return scan.score >= scan.threshold || (useRules && scan.rules.length > 0);
}
