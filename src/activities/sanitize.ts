import type { Db } from '../db/client';
import type { KeelMetrics } from '../metrics/metrics';
import { withLedger } from './ledger';

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

export function createSanitizeActivities(db: Db, metrics?: KeelMetrics) {
  return {
    async sanitizeInput(input: { runId: string; tenantId: string; text: string }): Promise<SanitizedText> {
      return withLedger(db, { ...input, step: 'sanitizeInput' }, async () => {
        const result = sanitizeText(input.text);
        metrics?.guardrailDecisions.inc({ guardrail: 'sanitize', decision: result.removedCharacters > 0 ? 'modified' : 'pass' });
        return result;
      });
    },
  };
}
