/**
 * Compares two evaluations of the same dataset: metric deltas (b − a) and the cases that got
 * worse (passed in a, not in b, or any score lower) or better. Versions that differ are listed,
 * so a regression points at what changed.
 */
import type { EvaluationView } from '../schemas/evals';

export interface CaseChange {
  caseId: string;
  from: { passed: boolean; scores: Record<string, number> };
  to: { passed: boolean; scores: Record<string, number> };
}

export interface Comparison {
  sameDataset: boolean;
  metrics: Array<{ metric: string; a: number | null; b: number | null; delta: number | null }>;
  regressed: CaseChange[];
  improved: CaseChange[];
  versionChanges: Array<{ what: string; a: string[]; b: string[] }>;
}

export function compareEvaluations(a: EvaluationView, b: EvaluationView): Comparison {
  const metric = (name: string, x: number | null | undefined, y: number | null | undefined) => ({
    metric: name,
    a: x ?? null,
    b: y ?? null,
    delta: x == null || y == null ? null : Number((y - x).toFixed(4)),
  });
  const scoreNames = [...new Set([...Object.keys(a.metrics.scores), ...Object.keys(b.metrics.scores)])].sort();
  const metrics = [
    metric('passRate', a.metrics.passRate, b.metrics.passRate),
    ...scoreNames.map((n) => metric(`score.${n}`, a.metrics.scores[n], b.metrics.scores[n])),
    metric('latencyMsP50', a.metrics.latencyMsP50, b.metrics.latencyMsP50),
    metric('costUsd', a.metrics.costUsd, b.metrics.costUsd),
  ];
  const before = new Map(a.cases.map((c) => [c.caseId, c]));
  const regressed: CaseChange[] = [];
  const improved: CaseChange[] = [];
  for (const to of b.cases) {
    const from = before.get(to.caseId);
    if (!from) continue;
    const change = { caseId: to.caseId, from: { passed: from.passed, scores: from.scores }, to: { passed: to.passed, scores: to.scores } };
    const lower = Object.entries(from.scores).some(([n, v]) => (to.scores[n as keyof typeof to.scores] ?? 0) < v);
    const higher = Object.entries(to.scores).some(([n, v]) => v > (from.scores[n as keyof typeof from.scores] ?? 0));
    if ((from.passed && !to.passed) || (lower && !(to.passed && !from.passed))) regressed.push(change);
    else if ((!from.passed && to.passed) || higher) improved.push(change);
  }
  const versionChanges = (Object.keys(a.versions) as Array<keyof EvaluationView['versions']>).flatMap((what) => {
    const x = a.versions[what].map(String);
    const y = b.versions[what].map(String);
    return JSON.stringify(x) === JSON.stringify(y) ? [] : [{ what, a: x, b: y }];
  });
  return { sameDataset: a.datasetHash === b.datasetHash, metrics, regressed, improved, versionChanges };
}
