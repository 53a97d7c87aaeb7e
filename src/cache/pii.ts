/**
 * Unmasked personal data a cached value must never hold. A cache entry outlives the run and is
 * served to other users of the tenant, so an answer that repeats an e-mail address, phone, card,
 * IBAN or social-security number is not stored. Masked placeholders (`[EMAIL]`) pass.
 */
const PII_PATTERNS: Array<[string, RegExp]> = [
  ['email', /[\p{L}\p{N}._%+-]+@[\p{L}\p{N}.-]+\.\p{L}{2,}/u],
  ['card', /\b(?:\d[ -]?){13,19}\b/],
  ['iban', /\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){3,7}(?: ?[A-Z0-9]{1,3})?\b/],
  ['ssn', /\b\d{3}-\d{2}-\d{4}\b/],
  ['phone', /(?:\+\d{1,3}[ .-]?)?\(?\d{3}\)?[ .-]\d{3}[ .-]\d{4}\b/],
];

/** The kind of unmasked PII `text` holds, if any. */
export function unmaskedPii(text: string): string | undefined {
  return PII_PATTERNS.find(([, pattern]) => pattern.test(text))?.[0];
}
