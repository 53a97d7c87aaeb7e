import { PII_TYPES, type PiiSpan, type PiiType } from './pii';

/**
 * Replaces PII spans with stable placeholders: the same value gets the same placeholder within
 * a run (`<EMAIL_1>` twice for one address mentioned twice), so the model can still reason
 * about "the same person" without seeing who.
 */
export interface VaultEntry {
  placeholder: string;
  type: PiiType;
  value: string;
}

export interface Masked {
  text: string;
  entries: VaultEntry[];
}

export function maskSpans(text: string, spans: readonly PiiSpan[], existing: readonly VaultEntry[] = []): Masked {
  const entries = [...existing];
  const byValue = new Map(entries.map((e) => [`${e.type}\u0000${e.value}`, e]));
  const counters = new Map<string, number>();
  for (const e of entries) {
    const n = Number(/_(\d+)>$/.exec(e.placeholder)?.[1] ?? 0);
    counters.set(PII_TYPES[e.type], Math.max(counters.get(PII_TYPES[e.type]) ?? 0, n));
  }
  let out = '';
  let at = 0;
  for (const span of [...spans].sort((a, b) => a.start - b.start)) {
    if (span.start < at) continue;
    const value = text.slice(span.start, span.end);
    const key = `${span.type}\u0000${value}`;
    let entry = byValue.get(key);
    if (!entry) {
      const label = PII_TYPES[span.type];
      const n = (counters.get(label) ?? 0) + 1;
      counters.set(label, n);
      entry = { placeholder: `<${label}_${n}>`, type: span.type, value };
      byValue.set(key, entry);
      entries.push(entry);
    }
    out += text.slice(at, span.start) + entry.placeholder;
    at = span.end;
  }
  return { text: out + text.slice(at), entries };
}

const PLACEHOLDER = /<([A-Z_]+)_(\d+)>/g;

/** Puts the originals back; placeholders not in `entries` stay as they are. */
export function unmask(text: string, entries: readonly VaultEntry[]): string {
  const byPlaceholder = new Map(entries.map((e) => [e.placeholder, e.value]));
  return text.replace(PLACEHOLDER, (p) => byPlaceholder.get(p) ?? p);
}

export function placeholdersIn(text: string): string[] {
  return [...new Set([...text.matchAll(PLACEHOLDER)].map((m) => m[0]))];
}
