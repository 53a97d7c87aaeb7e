/**
 * The input sanitizer, pure so the API can refuse text that sanitizes to nothing (400) with the
 * same rules the `sanitizeInput` activity applies, instead of accepting a run that must fail.
 */
/** Zero-width and bidi-control characters hide text from reviewers and smuggle instructions. */
const INVISIBLE = /[\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]/g;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]/g;

export interface SanitizedText {
  text: string;
  removedCharacters: number;
}

/** Normalises user text: NFKC, no control or invisible characters, tidy whitespace. */
export function sanitizeText(input: string): SanitizedText {
  const normalized = input.normalize('NFKC');
  const cleaned = normalized
    .replace(INVISIBLE, '')
    .replace(CONTROL, '')
    .replace(/\r\n?/g, '\n')
    .replace(/[ \t]+/g, ' ')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
  return { text: cleaned, removedCharacters: Math.max(0, normalized.length - cleaned.length) };
}

/** True when nothing would be left of `input` after sanitizing: only invisible, control or space characters. */
export function isBlankAfterSanitizing(input: string): boolean {
  return sanitizeText(input).text.length === 0;
}
