/**
 * Payloads hidden in encodings: instructions sent as base64, hex or percent-encoding pass any
 * filter that reads only the surface text. Each decodable run is decoded (once, plus one more
 * level for base64-in-base64) and handed back for the same scans as the text itself.
 */

const BASE64 = /(?:[A-Za-z0-9+/]{4}){4,}(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?|(?:[A-Za-z0-9_-]{4}){5,}/g;
const HEX = /\b(?:[0-9a-fA-F]{2}(?:\s|\\x|0x|,)?){8,}/g;
const PERCENT = /(?:%[0-9a-fA-F]{2}[^\s%]{0,3}){3,}/g;

/** Mostly printable text: a decoded run that is binary noise is not a hidden message. */
function readable(text: string): boolean {
  if (text.length < 6) return false;
  let printable = 0;
  for (const ch of text) if (/[\p{L}\p{N}\p{P}\p{Zs}\n]/u.test(ch)) printable++;
  return printable / [...text].length > 0.9 && /\p{L}{3}/u.test(text);
}

function fromBase64(run: string): string | undefined {
  const text = Buffer.from(run.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('utf8');
  return readable(text) ? text : undefined;
}

export interface DecodedPayload {
  encoding: 'base64' | 'hex' | 'percent';
  text: string;
}

export function decodePayloads(text: string, depth = 2): DecodedPayload[] {
  const out: DecodedPayload[] = [];
  for (const m of text.matchAll(BASE64)) {
    const decoded = fromBase64(m[0]);
    if (decoded) out.push({ encoding: 'base64', text: decoded });
  }
  for (const m of text.matchAll(HEX)) {
    const hex = m[0].replace(/\\x|0x|[\s,]/g, '');
    if (hex.length % 2 !== 0) continue;
    const decoded = Buffer.from(hex, 'hex').toString('utf8');
    if (readable(decoded)) out.push({ encoding: 'hex', text: decoded });
  }
  for (const m of text.matchAll(PERCENT)) {
    try {
      const decoded = decodeURIComponent(m[0]);
      if (decoded !== m[0] && readable(decoded)) out.push({ encoding: 'percent', text: decoded });
    } catch {
      // A malformed escape is not a payload.
    }
  }
  if (depth > 1) for (const p of [...out]) out.push(...decodePayloads(p.text, depth - 1));
  return out;
}
