/**
 * Credential detectors: provider token formats (high precision, fixed prefixes) and, for
 * `name = value` assignments, Shannon entropy so that `password = hunter2hunter2` is caught
 * while `token = the-next-page` is not. Patterns follow the public formats that secret
 * scanners (gitleaks, GitHub secret scanning) document.
 */
export interface SecretPattern {
  id: string;
  re: RegExp;
  /** Capture group holding the secret itself (0: the whole match). */
  group?: number;
  /** Minimum bits per character the secret must have. */
  minEntropy?: number;
}

export const SECRET_PATTERNS: readonly SecretPattern[] = [
  { id: 'private-key', re: /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----/g },
  { id: 'aws-access-key', re: /\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA|ABIA|ACCA)[A-Z0-9]{16}\b/g },
  { id: 'aws-secret-key', re: /aws.{0,20}(?:secret|private).{0,20}?[:=]\s*["']?([A-Za-z0-9/+=]{40})(?![A-Za-z0-9/+=])/gi, group: 1, minEntropy: 3.5 },
  { id: 'github-token', re: /\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})\b/g },
  { id: 'slack-token', re: /\bxox[abposr]-[A-Za-z0-9-]{10,}\b/g },
  { id: 'slack-webhook', re: /https:\/\/hooks\.slack\.com\/services\/[A-Za-z0-9/_-]{20,}/g },
  { id: 'openai-key', re: /\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}\b/g },
  { id: 'anthropic-key', re: /\bsk-ant-[A-Za-z0-9_-]{20,}\b/g },
  { id: 'google-api-key', re: /\bAIza[0-9A-Za-z_-]{35}\b/g },
  { id: 'stripe-key', re: /\b(?:sk|rk|pk)_(?:live|test)_[0-9a-zA-Z]{16,}\b/g },
  { id: 'keel-api-key', re: /\bkeel_[a-z0-9]{6,}_[A-Za-z0-9_-]{16,}\b/g },
  { id: 'jwt', re: /\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\b/g },
  { id: 'connection-string', re: /\b(?:postgres(?:ql)?|mysql|mariadb|mongodb(?:\+srv)?|redis|rediss|amqps?|mssql|sqlserver):\/\/[^\s:@/]+:[^\s@/]+@[^\s"'<>]+/gi },
  {
    id: 'assigned-secret',
    re: /\b(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|client[_-]?secret|auth)\b["']?\s*[:=]\s*["']?([^\s"',;]{8,})/gi,
    group: 1,
    minEntropy: 3,
  },
];

/** Shannon entropy in bits per character. */
export function entropy(text: string): number {
  const counts = new Map<string, number>();
  for (const ch of text) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  let h = 0;
  for (const c of counts.values()) {
    const p = c / text.length;
    h -= p * Math.log2(p);
  }
  return h;
}

export interface SecretHit {
  id: string;
  start: number;
  end: number;
}

export function findSecrets(text: string): SecretHit[] {
  const hits: SecretHit[] = [];
  for (const p of SECRET_PATTERNS) {
    for (const m of text.matchAll(p.re)) {
      const value = p.group ? m[p.group] : m[0];
      if (value === undefined) continue;
      if (p.minEntropy !== undefined && entropy(value) < p.minEntropy) continue;
      const start = m.index + (p.group ? m[0].indexOf(value) : 0);
      hits.push({ id: p.id, start, end: start + value.length });
    }
  }
  return hits;
}
