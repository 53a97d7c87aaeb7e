/**
 * A run's full lineage in one document (GET /v1/runs/:id/trace): what it was asked, every
 * version that shaped the answer — API and worker builds, model configurations, prompt
 * versions, release arm, corpus and guardrail policy versions — each step with its attempts,
 * the chunks retrieval gave the model (with their document versions), the strategy's
 * candidates and judge scores, the operator actions, and the Web UI page of every execution.
 */
import type { Config } from '../config';
import type { Db } from '../db/client';
import type { RunStep } from '../generated/prisma/client';
import { runLinks } from '../api/links';
import type { RunStatus, RunType } from '../shared';
import type { RunTrace } from '../schemas/trace';
import { attemptView } from '../runs/views';
import type { RunVersions } from './versions';

type Lineage = NonNullable<RunTrace['steps'][number]['attempts'][number]['lineage']>;

const iso = (d: Date | null) => (d ? d.toISOString() : null);

function distinctBy<T>(items: Iterable<T>, key: (item: T) => string): T[] {
  const seen = new Map<string, T>();
  for (const item of items) if (!seen.has(key(item))) seen.set(key(item), item);
  return [...seen.values()];
}

function retrievedFrom(steps: readonly RunStep[]): RunTrace['retrieved'] {
  const done = steps.filter((s) => s.step === 'retrieveContext' && s.status === 'completed').at(-1);
  if (!Array.isArray(done?.output)) return [];
  return done.output.flatMap((c) => {
    if (!c || typeof c !== 'object' || Array.isArray(c) || typeof c.chunkId !== 'string' || typeof c.documentId !== 'string') return [];
    return [{
      chunkId: c.chunkId,
      documentId: c.documentId,
      versionId: typeof c.versionId === 'string' ? c.versionId : null,
      page: typeof c.page === 'number' ? c.page : 0,
      score: typeof c.score === 'number' ? c.score : 0,
      lexicalRank: typeof c.lexicalRank === 'number' ? c.lexicalRank : null,
      vectorRank: typeof c.vectorRank === 'number' ? c.vectorRank : null,
    }];
  });
}

export async function runTrace(deps: { db: Db; config: Config }, tenantId: string, runId: string): Promise<RunTrace | null> {
  const run = await deps.db.run.findFirst({
    where: { id: runId, tenantId },
    include: { steps: { orderBy: [{ startedAt: 'asc' }, { attempt: 'asc' }] } },
  });
  if (!run) return null;
  const audit = await deps.db.auditEvent.findMany({ where: { tenantId, runId }, orderBy: [{ createdAt: 'asc' }, { id: 'asc' }] });
  const started = (run.versions ?? null) as RunVersions | null;

  const steps = new Map<string, RunTrace['steps'][number]>();
  for (const s of run.steps) {
    const key = `${s.workflowRunId}/${s.activityId}`;
    const entry = steps.get(key) ?? { step: s.step, activityId: s.activityId, attempts: [] };
    entry.attempts.push({ ...attemptView(s), lineage: (s.lineage ?? null) as Lineage | null });
    steps.set(key, entry);
  }
  const lineages = run.steps.flatMap((s) => (s.lineage ? [s.lineage as Lineage] : []));
  const links = runLinks(deps.config, run.id);
  const executions = distinctBy(run.steps.map((s) => s.workflowRunId), (id) => id);
  if (run.workflowRunId && !executions.includes(run.workflowRunId)) executions.push(run.workflowRunId);
  const result = (run.result ?? null) as { strategy?: unknown } | null;

  return {
    id: run.id,
    type: run.type as RunType,
    status: run.status as RunStatus,
    createdAt: run.createdAt.toISOString(),
    startedAt: iso(run.startedAt),
    completedAt: iso(run.completedAt),
    input: run.input,
    options: run.options,
    result: run.result ?? null,
    error: run.error ?? null,
    versions: {
      apiBuild: started?.apiBuild ?? null,
      workerBuilds: distinctBy(lineages.flatMap((l) => (l.build ? [l.build] : [])), (b) => b),
      modelConfigs: distinctBy([...(started ? [started.modelConfig] : []), ...lineages.flatMap((l) => (l.modelConfig ? [l.modelConfig] : []))], (m) => m.id),
      prompts: distinctBy(lineages.flatMap((l) => l.prompts ?? []), (p) => `${p.id}@${p.variant ?? ''}:${p.version}`),
      release: started?.release ?? null,
      corpusVersion: started?.corpusVersion ?? null,
      guardrailPolicyVersion: started?.guardrailPolicyVersion ?? null,
    },
    executions: executions.map((workflowRunId) => ({ workflowRunId, temporalUi: `${links.temporalUi}/${encodeURIComponent(workflowRunId)}/history` })),
    steps: [...steps.values()],
    retrieved: retrievedFrom(run.steps),
    strategy: result?.strategy ?? null,
    totals: {
      attempts: run.steps.length,
      tokensIn: run.steps.reduce((n, s) => n + (s.tokensIn ?? 0), 0),
      tokensOut: run.steps.reduce((n, s) => n + (s.tokensOut ?? 0), 0),
      costUsd: Number(run.steps.reduce((n, s) => n + (s.costUsd === null ? 0 : Number(s.costUsd)), 0).toFixed(6)),
    },
    audit: audit.map((a) => ({ id: a.id, action: a.action, actor: a.actor, reason: a.reason, details: a.details, createdAt: a.createdAt.toISOString() })),
    links,
  };
}
