import attackPatterns from './data/attack-patterns.json';

/**
 * Attack-pattern rules, kept as data (data/attack-patterns.json) so they are versioned, reviewed
 * and extended without touching code. Matched against folded text (see foldForDetection).
 */
export interface RuleHit {
  id: string;
  category: string;
}

interface RuleSpec {
  id: string;
  category: string;
  pattern: string;
}

const compiled = (attackPatterns.rules as RuleSpec[]).map((r) => ({ id: r.id, category: r.category, re: new RegExp(r.pattern, 'is') }));

export const RULES_VERSION: string = attackPatterns.version;

export function matchRules(foldedText: string): RuleHit[] {
  return compiled.filter((r) => r.re.test(foldedText)).map(({ id, category }) => ({ id, category }));
}
