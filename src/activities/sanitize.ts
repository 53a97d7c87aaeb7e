import type { Db } from '../db/client';
import type { KeelMetrics } from '../metrics/metrics';
import { sanitizeText, type SanitizedText } from '../guardrails/sanitize-text';
import { withLedger } from './ledger';

export { sanitizeText, type SanitizedText };

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
