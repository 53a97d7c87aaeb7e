import lexicon from './data/harmful-lexicon.json';
import type { BlockReason, GuardrailDecision } from './decision';
import { timed } from './decision';
import { scoreClaims } from './groundedness';
import { maskSpans, placeholdersIn, type VaultEntry } from './mask';
import { foldForDetection } from './normalize';
import { detectPii } from './pii';
import type { GuardrailPolicy } from './policy';

/**
 * The output stack, before a result is returned, stored or cached: canary (prompt leak) →
 * restricted terms → PII/secrets → safety (harmful-content lexicon) → brand (banned phrases,
 * required disclaimer) → groundedness. Pure; the activity records, seals and counts.
 */
export interface OutputCheck {
  text: string;
  blocked: BlockReason[];
  decisions: GuardrailDecision[];
  /** New vault entries for PII the model produced (masked like the input's). */
  entries: VaultEntry[];
  /** Claims below the support threshold, by index, when groundedness asks to regenerate. */
  unsupportedClaims: number[];
  regenerate: boolean;
}

export interface OutputContext {
  canary?: string;
  context: readonly string[];
  /** The vault so far: placeholders the model may repeat, and numbering to continue. */
  entries: readonly VaultEntry[];
  /** True on the regenerated answer: a second failure annotates or blocks, never loops. */
  retried?: boolean;
}

const CATEGORIES = Object.entries(lexicon.categories).map(([category, phrases]) => ({ category, phrases: phrases.map((p) => foldForDetection(p)) }));
const CUES = lexicon.instructionCues;
export const HARMFUL_LEXICON_VERSION: string = lexicon.version;

/** Categories of operational harm in a text; a topic named without an instruction cue nearby is not a hit. */
export function harmfulCategories(text: string): string[] {
  const folded = foldForDetection(text);
  const cued = CUES.some((c) => folded.includes(c));
  if (!cued) return [];
  return CATEGORIES.filter((c) => c.phrases.some((p) => folded.includes(p))).map((c) => c.category);
}

function containsTerm(folded: string, term: string): boolean {
  const t = foldForDetection(term).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`(?:^|[^\\p{L}\\p{N}])${t}(?:$|[^\\p{L}\\p{N}])`, 'u').test(folded);
}

export function checkOutput(answer: string, policy: Pick<GuardrailPolicy, 'output'>, ctx: OutputContext): OutputCheck {
  const out = policy.output;
  const decisions: GuardrailDecision[] = [];
  const blocked: BlockReason[] = [];
  let text = answer;
  let entries: VaultEntry[] = [];
  const folded = foldForDetection(answer);

  if (ctx.canary && out.canary !== 'off') {
    const leaked = answer.includes(ctx.canary);
    decisions.push({ layer: 'canary', rule: 'system-prompt-canary', action: leaked ? (out.canary === 'block' ? 'blocked' : 'flagged') : 'pass', latencyMs: 0 });
    if (leaked && out.canary === 'block') blocked.push({ layer: 'canary', rule: 'system-prompt-canary' });
  }

  const restricted = out.restrictedTerms.flatMap((term, i) => (containsTerm(folded, term) ? [`restricted-term#${i}`] : []));
  if (out.restrictedTerms.length > 0) {
    decisions.push({ layer: 'leak', rule: restricted.join(',') || 'restricted-terms', action: restricted.length ? 'blocked' : 'pass', latencyMs: 0 });
    for (const rule of restricted) blocked.push({ layer: 'leak', rule });
  }

  if (out.pii !== 'off') {
    const known = new Set(placeholdersIn(answer));
    const found = timed(() => detectPii(text).filter((s) => !known.has(text.slice(s.start, s.end))));
    const counts: Record<string, number> = {};
    for (const s of found.value) counts[s.type] = (counts[s.type] ?? 0) + 1;
    if (found.value.length === 0) decisions.push({ layer: 'leak', rule: 'pii-scan', action: 'pass', latencyMs: found.ms });
    else if (out.pii === 'block') {
      decisions.push({ layer: 'leak', rule: 'pii-scan', action: 'blocked', latencyMs: found.ms, counts });
      for (const type of Object.keys(counts)) blocked.push({ layer: 'leak', rule: `pii:${type}` });
    } else {
      const masked = maskSpans(text, found.value, ctx.entries);
      text = masked.text;
      entries = masked.entries.slice(ctx.entries.length);
      decisions.push({ layer: 'leak', rule: 'pii-scan', action: 'masked', latencyMs: found.ms, counts });
    }
  }

  if (out.harmful !== 'off') {
    const harm = timed(() => harmfulCategories(answer));
    const hit = harm.value.length > 0;
    decisions.push({ layer: 'safety', rule: hit ? harm.value.join(',') : HARMFUL_LEXICON_VERSION, action: hit ? (out.harmful === 'block' ? 'blocked' : 'flagged') : 'pass', latencyMs: harm.ms });
    if (hit && out.harmful === 'block') for (const c of harm.value) blocked.push({ layer: 'safety', rule: `harmful:${c}` });
  }

  const banned = out.bannedPhrases.flatMap((p, i) => (containsTerm(folded, p) ? [`banned-phrase#${i}`] : []));
  if (out.bannedPhrases.length > 0) {
    decisions.push({ layer: 'brand', rule: banned.join(',') || 'banned-phrases', action: banned.length ? 'blocked' : 'pass', latencyMs: 0 });
    for (const rule of banned) blocked.push({ layer: 'brand', rule });
  }

  let unsupportedClaims: number[] = [];
  let regenerate = false;
  const g = out.groundedness;
  if (g.action !== 'off' && ctx.context.length > 0) {
    const scored = timed(() => scoreClaims(text, ctx.context, g.minSupport));
    unsupportedClaims = scored.value.filter((c) => !c.supported).map((c) => c.index);
    const min = scored.value.reduce((m, c) => Math.min(m, c.score), 1);
    let action: GuardrailDecision['action'] = 'pass';
    if (unsupportedClaims.length > 0) {
      if (g.action === 'regenerate' && !ctx.retried) {
        action = 'regenerate';
        regenerate = true;
      } else if (g.action === 'block' || (g.action === 'regenerate' && ctx.retried)) {
        action = 'blocked';
        blocked.push({ layer: 'groundedness', rule: 'unsupported-claims', score: min });
      } else action = 'annotated';
    }
    decisions.push({ layer: 'groundedness', rule: 'content-word-support', score: min, action, latencyMs: scored.ms, counts: { claims: scored.value.length, unsupported: unsupportedClaims.length } });
    if (action === 'annotated') text = `${text}\n\n[Unverified: ${unsupportedClaims.length} of ${scored.value.length} statements are not supported by the retrieved documents.]`;
  }

  if (out.requiredDisclaimer && !text.includes(out.requiredDisclaimer)) {
    text = `${text}\n\n${out.requiredDisclaimer}`;
    decisions.push({ layer: 'brand', rule: 'required-disclaimer', action: 'modified', latencyMs: 0 });
  }
  return { text: blocked.length ? '' : text, blocked, decisions, entries, unsupportedClaims, regenerate: regenerate && blocked.length === 0 };
}
