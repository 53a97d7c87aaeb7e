/**
 * Evaluations in Postgres: the per-case results the runner posts, the metrics computed from
 * them, and the set of versions the cases' runs actually ran with (read from the runs' rows and
 * ledger, not trusted from the client), so two evaluations can be told apart by what changed.
 */
import { randomUUID } from 'node:crypto';
import type { Db } from '../db/client';
import type { Evaluation, EvaluationCase, Prisma } from '../generated/prisma/client';
import type { CreateEvaluationRequest, EvalCaseResult, EvalMetrics, EvalVersionSet, EvaluationSummary, EvaluationView } from '../schemas/evals';
import type { StepLineage } from '../activities/ledger';
import type { RunVersions } from '../trace/versions';

const sorted = (values: Iterable<string>) => [...new Set(values)].sort();

export function evaluationMetrics(cases: readonly EvalCaseResult[]): EvalMetrics {
  const sums = new Map<string, { total: number; n: number }>();
  for (const c of cases) {
    for (const [name, value] of Object.entries(c.scores)) {
      const s = sums.get(name) ?? { total: 0, n: 0 };
      s.total += value;
      s.n += 1;
      sums.set(name, s);
    }
  }
  const latencies = cases.flatMap((c) => (c.latencyMs === null ? [] : [c.latencyMs])).sort((a, b) => a - b);
  return {
    cases: cases.length,
    passRate: cases.filter((c) => c.passed).length / cases.length,
    scores: Object.fromEntries([...sums].map(([name, s]) => [name, Number((s.total / s.n).toFixed(4))])),
    latencyMsP50: latencies.length ? latencies[Math.floor((latencies.length - 1) / 2)]! : null,
    costUsd: Number(cases.reduce((n, c) => n + (c.costUsd ?? 0), 0).toFixed(6)),
  };
}

async function versionSet(db: Db, tenantId: string, runIds: string[]): Promise<EvalVersionSet> {
  const runs = await db.run.findMany({ where: { tenantId, id: { in: runIds } }, select: { versions: true, steps: { select: { lineage: true } } } });
  const started = runs.flatMap((r) => (r.versions ? [r.versions as unknown as RunVersions] : []));
  const lineages = runs.flatMap((r) => r.steps.flatMap((s) => (s.lineage ? [s.lineage as StepLineage] : [])));
  return {
    apiBuilds: sorted(started.map((v) => v.apiBuild)),
    workerBuilds: sorted(lineages.flatMap((l) => (l.build ? [l.build] : []))),
    modelConfigs: sorted(lineages.flatMap((l) => (l.modelConfig ? [l.modelConfig.id] : []))),
    prompts: sorted(lineages.flatMap((l) => (l.prompts ?? []).map((p) => `${p.id}${p.variant ? `@${p.variant}` : ''}:${p.version}`))),
    corpusVersions: [...new Set(started.map((v) => v.corpusVersion))].sort((a, b) => a - b),
    releaseArms: sorted(started.map((v) => v.release.arm)),
  };
}

function summary(row: Evaluation): EvaluationSummary {
  return {
    id: row.id,
    name: row.name,
    dataset: row.dataset,
    datasetHash: row.datasetHash,
    versions: row.versions as unknown as EvalVersionSet,
    metrics: row.metrics as unknown as EvalMetrics,
    createdAt: row.createdAt.toISOString(),
  };
}

function caseView(row: EvaluationCase): EvalCaseResult {
  return {
    caseId: row.caseId,
    runId: row.runId,
    status: row.status,
    passed: row.passed,
    scores: row.scores as EvalCaseResult['scores'],
    ...(row.output === null ? {} : { output: row.output }),
    latencyMs: row.latencyMs,
    costUsd: row.costUsd,
  };
}

export async function createEvaluation(db: Db, tenantId: string, req: CreateEvaluationRequest): Promise<EvaluationView> {
  const id = randomUUID();
  const versions = await versionSet(db, tenantId, req.cases.flatMap((c) => (c.runId ? [c.runId] : [])));
  const metrics = evaluationMetrics(req.cases);
  const [row] = await db.$transaction([
    db.evaluation.create({
      data: { id, tenantId, name: req.name, dataset: req.dataset, datasetHash: req.datasetHash, versions: versions, metrics: metrics, caseCount: req.cases.length },
    }),
    db.evaluationCase.createMany({
      data: req.cases.map((c) => ({
        evaluationId: id,
        caseId: c.caseId,
        runId: c.runId,
        status: c.status,
        passed: c.passed,
        scores: c.scores,
        output: c.output === undefined ? undefined : (c.output as Prisma.InputJsonValue),
        latencyMs: c.latencyMs,
        costUsd: c.costUsd,
      })),
    }),
  ]);
  return { ...summary(row), cases: req.cases };
}

export async function listEvaluations(db: Db, tenantId: string): Promise<EvaluationSummary[]> {
  return (await db.evaluation.findMany({ where: { tenantId }, orderBy: [{ createdAt: 'desc' }, { id: 'desc' }], take: 100 })).map(summary);
}

export async function getEvaluation(db: Db, tenantId: string, id: string): Promise<EvaluationView | null> {
  const row = await db.evaluation.findFirst({ where: { id, tenantId }, include: { cases: { orderBy: { caseId: 'asc' } } } });
  return row ? { ...summary(row), cases: row.cases.map(caseView) } : null;
}
