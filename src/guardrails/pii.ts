import { isValidIBAN } from 'ibantools';
import { findPhoneNumbersInText } from 'libphonenumber-js/max';
import { isIP } from 'node:net';
import { findPersonNames } from './names';
import { findSecrets } from './secrets';

/**
 * PII and secrets detection. Types use Presidio's names (the labelled data's), so spans can be
 * scored directly; each maps to the short placeholder label the model sees (`<EMAIL_1>`).
 * Structured types are found by pattern and then *validated* (Luhn, IBAN mod-97, SSN area
 * rules, libphonenumber, IP parsing), which is what keeps precision high; names and street
 * addresses are heuristics (see names.ts and docs/guardrails.md).
 */
export const PII_TYPES = {
  CREDENTIAL: 'SECRET',
  CREDIT_CARD: 'CARD',
  IBAN_CODE: 'IBAN',
  US_SSN: 'SSN',
  UK_NINO: 'NATIONAL_ID',
  EMAIL_ADDRESS: 'EMAIL',
  IP_ADDRESS: 'IP',
  PHONE_NUMBER: 'PHONE',
  STREET_ADDRESS: 'ADDRESS',
  PERSON: 'PERSON',
} as const;
export type PiiType = keyof typeof PII_TYPES;
export const STRUCTURED_PII_TYPES: readonly PiiType[] = ['CREDENTIAL', 'CREDIT_CARD', 'IBAN_CODE', 'US_SSN', 'UK_NINO', 'EMAIL_ADDRESS', 'IP_ADDRESS', 'PHONE_NUMBER'];

export interface PiiSpan {
  type: PiiType;
  start: number;
  end: number;
  /** Which detector found it (`luhn`, `github-token`, …): recorded, never the value. */
  detector: string;
}

export function luhn(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}

const EMAIL = /\b[A-Za-z0-9._%+-]+@(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,}\b/g;
const CARD = /(?<![\d+-])(?:\d[ -]?){11,18}\d(?![\d-])/g;
const IBAN = /\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b/g;
const SSN = /(?<![\d-])(\d{3})([- ]?)(\d{2})\2(\d{4})(?![\d-])/g;
const NINO = /\b[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b/g;
const IPV4 = /(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])/g;
/** Candidates only (compressed forms included); `isIP` decides. */
const IPV6 = /(?<![\w:])(?:[0-9a-fA-F]{0,4}:){2,7}[0-9a-fA-F]{0,4}(?![\w:])/g;
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;
/** Phone-shaped digit groups that libphonenumber cannot place in a country (synthetic or partial numbers). */
const PHONE_SHAPE = /(?<![\w+(-])(?:\+\d{8,15}|(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?\d{1,5}(?:[ .-]\d{2,6}){1,4})(?![\w-])/g;
const PHONE_CUE = /\b(?:phone|tel|telephone|mobile|cell|call|fax|contact|reach|number|whatsapp|sms|text)\b[^.\n]{0,40}$/i;

const STREET_WORDS = [
  'street', 'st', 'avenue', 'ave', 'road', 'rd', 'boulevard', 'blvd', 'lane', 'ln', 'drive', 'dr', 'court', 'ct', 'place', 'pl', 'square', 'sq', 'way', 'terrace', 'highway', 'hwy', 'parkway', 'pkwy', 'circle', 'crescent', 'close', 'row', 'alley', 'trail',
  'strasse', 'straße', 'str', 'gasse', 'weg', 'platz', 'allee', 'ring', 'katu', 'kuja', 'tie', 'polku', 'gade', 'vej', 'gatan', 'vagen', 'vägen', 'veien', 'gata', 'straat', 'laan', 'plein', 'rue', 'via', 'viale', 'piazza', 'corso', 'calle', 'avenida', 'rua', 'travessa', 'ulica', 'ul', 'utca', 'u', 'ut', 'út', 'ulitsa', 'bulevar', 'cesta',
];
/** "Street" or "street": capitalisation must stay significant elsewhere in the pattern (\p{Lu}), so no `i` flag. */
const STREET_WORD = STREET_WORDS.map((w) => `[${w[0]!.toUpperCase()}${w[0]}]${w.slice(1)}`).join('|');
const STREET = new RegExp(
  String.raw`(?:\b\d{1,6}[A-Za-z]?,?\s+(?:[\p{Lu}\d][\p{L}'.-]*\s+){0,4}(?:${STREET_WORD})\b\.?(?:\s+\d{1,5}[A-Za-z]?)?|\b(?:[\p{Lu}][\p{L}'-]*\s+){0,3}[\p{Lu}][\p{Ll}'-]+(?:${STREET_WORDS.join('|')})\.?\s+\d{1,5}[A-Za-z]?\b|\b(?:[\p{Lu}][\p{L}'-]*\s+){1,3}(?:${STREET_WORD})\b\.?\s+\d{1,5}[A-Za-z]?\b|\bP\.?O\.? Box \d+|\bPSC \d{4}, Box \d{4})(?:,?\s+(?:Apt|Suite|Unit|Floor|Fl)\.?\s*#?\d+)?`,
  'gu',
);

function ssnValid(area: string, group: string, serial: string): boolean {
  const a = Number(area);
  return a !== 0 && a !== 666 && a < 900 && group !== '00' && serial !== '0000';
}

function push(out: PiiSpan[], type: PiiType, start: number, end: number, detector: string): void {
  out.push({ type, start, end, detector });
}

/** Every PII or secret span, overlaps resolved: the earlier type in PII_TYPES wins, then the longer span. */
export function detectPii(text: string, options: { types?: readonly PiiType[] } = {}): PiiSpan[] {
  const wanted = new Set(options.types ?? (Object.keys(PII_TYPES) as PiiType[]));
  const found: PiiSpan[] = [];
  if (wanted.has('CREDENTIAL')) for (const s of findSecrets(text)) push(found, 'CREDENTIAL', s.start, s.end, s.id);
  if (wanted.has('EMAIL_ADDRESS')) for (const m of text.matchAll(EMAIL)) push(found, 'EMAIL_ADDRESS', m.index, m.index + m[0].length, 'email');
  if (wanted.has('CREDIT_CARD')) {
    for (const m of text.matchAll(CARD)) {
      const digits = m[0].replace(/\D/g, '');
      if (digits.length >= 12 && digits.length <= 19 && luhn(digits) && !/^(\d)\1+$/.test(digits)) push(found, 'CREDIT_CARD', m.index, m.index + m[0].length, 'luhn');
    }
  }
  if (wanted.has('IBAN_CODE')) {
    for (const m of text.matchAll(IBAN)) {
      if (isValidIBAN(m[0].replace(/ /g, ''))) push(found, 'IBAN_CODE', m.index, m.index + m[0].length, 'iban-mod97');
    }
  }
  if (wanted.has('US_SSN')) {
    for (const m of text.matchAll(SSN)) {
      if (m[2] === '' && !/\b(?:ssn|social security)\b/i.test(text.slice(Math.max(0, m.index - 40), m.index))) continue;
      if (ssnValid(m[1]!, m[3]!, m[4]!)) push(found, 'US_SSN', m.index, m.index + m[0].length, 'ssn');
    }
  }
  if (wanted.has('UK_NINO')) for (const m of text.matchAll(NINO)) push(found, 'UK_NINO', m.index, m.index + m[0].length, 'uk-nino');
  if (wanted.has('IP_ADDRESS')) {
    for (const re of [IPV4, IPV6]) for (const m of text.matchAll(re)) if (isIP(m[0])) push(found, 'IP_ADDRESS', m.index, m.index + m[0].length, 'ip');
  }
  if (wanted.has('PHONE_NUMBER')) {
    // A UUID is an identifier (an answer cites chunks by theirs), whatever digits it holds:
    // libphonenumber's lenient scan found "84-1708-4210" inside one and masked the citation.
    const ids = [...text.matchAll(UUID)].map((m) => [m.index, m.index + m[0].length] as const);
    const inId = (start: number, end: number) => ids.some(([s, e]) => start < e && s < end);
    for (const n of findPhoneNumbersInText(text, { defaultCountry: 'US', extended: true })) {
      if (!inId(n.startsAt, n.endsAt)) push(found, 'PHONE_NUMBER', n.startsAt, n.endsAt, 'libphonenumber');
    }
    for (const m of text.matchAll(PHONE_SHAPE)) {
      const digits = m[0].replace(/\D/g, '');
      if (digits.length < 7 || digits.length > 15) continue;
      // Shapes that are not phones: dates, times, decimals, versions.
      if (/^\d{4}[-./]\d{1,2}[-./]\d{1,2}\b|^\d{1,2}[-./]\d{1,2}[-./]\d{2,4}$/.test(m[0])) continue;
      // Two digit groups alone are as often a postcode and house number; an SSN shape is not a phone.
      if (/^\d{3}-\d{2}-\d{4}$/.test(m[0])) continue;
      const groups = m[0].split(/[ .-]+|\)\s*/).filter(Boolean).length;
      const marked = m[0].startsWith('+') || m[0].startsWith('(');
      if (groups >= 3 || marked || PHONE_CUE.test(text.slice(Math.max(0, m.index - 60), m.index))) push(found, 'PHONE_NUMBER', m.index, m.index + m[0].length, 'phone-shape');
    }
  }
  if (wanted.has('STREET_ADDRESS')) for (const m of text.matchAll(STREET)) push(found, 'STREET_ADDRESS', m.index, m.index + m[0].trimEnd().length, 'street');
  if (wanted.has('PERSON')) for (const s of findPersonNames(text)) push(found, 'PERSON', s.start, s.end, s.detector);
  return resolveOverlaps(found);
}

const PRIORITY = Object.keys(PII_TYPES) as PiiType[];

function resolveOverlaps(spans: PiiSpan[]): PiiSpan[] {
  const ranked = [...spans].sort((a, b) => PRIORITY.indexOf(a.type) - PRIORITY.indexOf(b.type) || b.end - b.start - (a.end - a.start) || a.start - b.start);
  const kept: PiiSpan[] = [];
  for (const s of ranked) if (!kept.some((k) => k.start < s.end && s.start < k.end)) kept.push(s);
  return kept.sort((a, b) => a.start - b.start);
}
