import { z } from 'zod';

/**
 * The string rules every request shape shares, in one place so that the OpenAPI document states
 * them as `pattern`s generated from the very regexes that validate. A request the document
 * allows is one the handler accepts (`npm run test:contract` holds both to that).
 *
 * Postgres stores no U+0000 (in `text` or `jsonb`), so no string Keel might store may contain
 * one: the document says so with `pattern`. Nor does it store a lone UTF-16 surrogate, which JSON
 * can carry (`"\ud800"`) but which is not Unicode text; JSON Schema strings are Unicode text, so
 * no pattern can state (and JSON Schema tools cannot even represent) that case: it is refused
 * with 400 everywhere, as the document's description and its 400 responses say.
 */
// eslint-disable-next-line no-control-regex -- U+0000 is the point
export const NO_NUL = /^[^\u0000]*$/u;
export const STORABLE_MESSAGE = 'must not contain NUL (U+0000) or a lone UTF-16 surrogate';

/** With the `u` flag a surrogate pair reads as one code point, so this finds only a lone half. */
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;
const isWellFormed = (s: string) => !LONE_SURROGATE.test(s);

/** The rule on every string and key of a request: no NUL, and well-formed Unicode. */
export const isStorable = (s: string) => NO_NUL.test(s) && isWellFormed(s);

/**
 * What the input sanitizer (src/guardrails/sanitize-text.ts) leaves nothing of, spelled out as
 * one class (JS and Python disagree on `\s`): what `trim()` removes (after NFKC, which maps the
 * other Unicode spaces to U+0020), zero-width and bidi controls, and C0 controls and DEL. A text
 * made only of these says nothing; the document states that as a `pattern`.
 */
const BLANK =
  '\\u0000-\\u0020\\u007f\\u00a0\\u1680\\u2000-\\u200f\\u2028-\\u202f\\u205f-\\u2064\\u2066-\\u2069\\u3000\\ufeff';
export const HAS_VISIBLE = new RegExp(`[^${BLANK}]`, 'u');

/** Any string Keel may store. */
export const storableString = () => z.string().regex(NO_NUL, STORABLE_MESSAGE).refine(isWellFormed, STORABLE_MESSAGE);

/**
 * Free text with something in it (a question, a name, a reason): storable, at most `max`
 * characters as sent, and not only whitespace. Trimmed after the checks, so what the document
 * says about the string as sent is exactly what is checked.
 */
export const visibleText = (max: number) =>
  storableString().min(1, 'must not be empty').max(max).regex(HAS_VISIBLE, { message: 'must contain visible characters (not only spaces, invisible or control characters)', abort: true }).trim();

/**
 * A JSON value Keel stores as `jsonb` (an extraction schema): every string and every key
 * storable. Recursive, so the document states the rule at any depth.
 */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export const JsonValue: z.ZodType<JsonValue> = z
  .lazy(() => z.union([storableString(), z.number(), z.boolean(), z.null(), z.array(JsonValue), z.record(storableString(), JsonValue)]))
  .meta({ id: 'JsonValue', description: 'Any JSON value whose strings and keys contain no NUL and no lone UTF-16 surrogate.' });
export const JsonObject = z.record(storableString(), JsonValue);

/** An array without repeats: checked, and stated as `uniqueItems` in the document. */
export const unique = <T extends z.ZodArray>(array: T, message = 'must not repeat an item') =>
  array.refine((a) => new Set(a).size === a.length, message).meta({ uniqueItems: true });

/** Names of registered things (extraction schemas): ASCII letters, digits, `_`, `.` and `-`. */
export const ResourceName = z.string().regex(/^[A-Za-z0-9_.-]{1,100}$/, 'letters, digits, _ . - (at most 100)');
