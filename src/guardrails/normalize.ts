/**
 * Layer 1 text hygiene: what the model sees is NFKC text without characters a reviewer cannot
 * see; what the detectors see is additionally folded (homoglyphs, leetspeak, accents, case), so
 * "іgnоrе" in Cyrillic or "1gn0re" matches the same rules and features as "ignore".
 */

/** Zero-width, joiners, soft hyphen, fillers and variation selectors: invisible, so they split words unseen. */
// Combining marks are listed on purpose: each is removed on its own.
// eslint-disable-next-line no-misleading-character-class
const INVISIBLE = /[\u00AD\u034F\u061C\u115F\u1160\u17B4\u17B5\u180B-\u180F\u200B-\u200D\u2060-\u2064\u206A-\u206F\u3164\uFE00-\uFE0F\uFEFF\uFFA0]/g;
/** Bidi controls reorder what a reviewer sees (Trojan Source, CVE-2021-42574). */
const BIDI = /[\u200E\u200F\u202A-\u202E\u2066-\u2069]/g;
/** The Unicode tag block U+E0000–E007F mirrors ASCII invisibly: an "ASCII smuggling" channel. */
const TAGS = /[\u{E0000}-\u{E007F}]/gu;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]/g;

export interface Sanitized {
  text: string;
  removed: { invisible: number; bidi: number; tag: number; control: number };
  /** ASCII hidden in tag characters, decoded so it can be scanned like any other text. */
  hidden: string;
}

function count(text: string, re: RegExp): number {
  return text.match(re)?.length ?? 0;
}

export function sanitize(input: string): Sanitized {
  const normalized = input.normalize('NFKC');
  const hidden = [...normalized.matchAll(TAGS)]
    .map((m) => String.fromCodePoint(m[0].codePointAt(0)! - 0xe0000))
    .filter((c) => c >= ' ' && c <= '~')
    .join('');
  const removed = {
    invisible: count(normalized, INVISIBLE),
    bidi: count(normalized, BIDI),
    tag: count(normalized, TAGS),
    control: count(normalized, CONTROL),
  };
  const text = normalized
    .replace(INVISIBLE, '')
    .replace(BIDI, '')
    .replace(TAGS, '')
    .replace(CONTROL, '')
    .replace(/\r\n?/g, '\n')
    .replace(/[ \t]+/g, ' ')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
  return { text, removed, hidden };
}

/**
 * Latin look-alikes from Cyrillic, Greek, Armenian and a few symbol blocks (a subset of
 * Unicode's confusables.txt: the letters that actually occur in homoglyph attacks), plus
 * leetspeak digits and symbols. Used only for detection; never shown to the model.
 */
const CONFUSABLES: Record<string, string> = {
  а: 'a', в: 'b', е: 'e', ё: 'e', к: 'k', м: 'm', н: 'h', о: 'o', р: 'p', с: 'c', т: 't', у: 'y', х: 'x', ѕ: 's', і: 'i', ї: 'i', ј: 'j', ԁ: 'd', ԛ: 'q', ԝ: 'w', ո: 'n', ս: 'u', օ: 'o', ɡ: 'g', ɩ: 'i', ı: 'i', ℓ: 'l',
  α: 'a', β: 'b', ε: 'e', η: 'n', ι: 'i', κ: 'k', ν: 'v', ο: 'o', ρ: 'p', τ: 't', υ: 'u', χ: 'x', ω: 'w', γ: 'y',
  '0': 'o', '1': 'i', '3': 'e', '4': 'a', '5': 's', '7': 't', '@': 'a', $: 's', '!': 'i', '|': 'l',
};
const CONFUSABLE_RE = new RegExp(`[${Object.keys(CONFUSABLES).map((c) => c.replace(/[\\\]^$|-]/g, '\\$&')).join('')}]`, 'g');

/**
 * Folds text for detection: lower case, accents stripped, look-alikes mapped to Latin, and a
 * character repeated or separated inside a word ("i g n o r e", "i.g.n.o.r.e") joined again.
 * Digits next to digits stay digits, so numbers in benign text are not turned into words.
 */
export function foldForDetection(text: string): string {
  const lowered = text.toLowerCase().normalize('NFD').replace(/\p{M}+/gu, '');
  const folded = lowered.replace(CONFUSABLE_RE, (c, offset: number, all: string) => {
    if (/[0-9]/.test(c) && (/[0-9]/.test(all[offset - 1] ?? '') || /[0-9]/.test(all[offset + 1] ?? ''))) return c;
    return CONFUSABLES[c] ?? c;
  });
  // Letters spaced out one by one: "i g n o r e" → "ignore" (runs of ≥ 4 single letters).
  return folded.replace(/\b(?:[a-z][ ._*-]){3,}[a-z]\b/g, (run) => run.replace(/[ ._*-]/g, ''));
}
