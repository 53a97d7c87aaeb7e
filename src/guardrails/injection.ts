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
  rules: RuleHit[];
  /** How many hidden payloads were decoded and scanned. */
  decoded: number;
  model: string;
  rulesVersion: string;
}

export function scanInjection(sanitizedText: string, hidden = '', threshold?: number): InjectionScan {
  const model = injectionModel();
  const payloads = decodePayloads(sanitizedText).map((p) => p.text);
  if (hidden) payloads.push(hidden, ...decodePayloads(hidden).map((p) => p.text));
  const texts = [sanitizedText, ...payloads.map((p) => sanitize(p).text)];
  let score = 0;
  const rules = new Map<string, RuleHit>();
  for (const t of texts) {
    score = Math.max(score, model.score(t));
    for (const hit of matchRules(foldForDetection(t))) rules.set(hit.id, hit);
  }
  return { score: Number(score.toFixed(4)), threshold: threshold ?? model.threshold, rules: [...rules.values()], decoded: payloads.length, model: model.version, rulesVersion: RULES_VERSION };
}

export function isInjection(scan: InjectionScan, useRules: boolean): boolean {
  return scan.score >= scan.threshold || (useRules && scan.rules.length > 0);
}
