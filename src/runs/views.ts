import type { Config } from '../config';
import type { Run, RunStep } from '../generated/prisma/client';
import { runLinks } from '../api/links';
import { problems } from '../api/problem';
import type { RunSummary, RunView } from '../schemas/runs';
import type { RunStatus, RunType } from '../shared';

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export function runSummary(config: Config, run: Run): RunSummary {
  return {
    id: run.id,
    type: run.type as RunType,
    status: run.status as RunStatus,
    model: run.model,
    createdAt: run.createdAt.toISOString(),
    startedAt: iso(run.startedAt),
    completedAt: iso(run.completedAt),
    links: runLinks(config, run.id),
  };
}

export function runView(config: Config, run: Run & { steps: RunStep[] }): RunView {
  const byStep = new Map<string, RunView['steps'][number]>();
  for (const s of run.steps) {
    const entry = byStep.get(s.step) ?? { step: s.step, attempts: [] };
    entry.attempts.push({
      attempt: s.attempt,
      status: s.status,
      startedAt: s.startedAt.toISOString(),
      endedAt: iso(s.endedAt),
      latencyMs: s.latencyMs,
      model: s.model,
      tokensIn: s.tokensIn,
      tokensOut: s.tokensOut,
      costUsd: s.costUsd === null ? null : Number(s.costUsd),
      error: s.error ?? null,
      workflowRunId: s.workflowRunId,
    });
    byStep.set(s.step, entry);
  }
  const ledgerExecutions = [...new Set(run.steps.map((s) => s.workflowRunId))];
  return {
    ...runSummary(config, run),
    input: run.input,
    options: run.options,
    result: run.result ?? null,
    error: run.error ?? null,
    steps: [...byStep.values()],
    // Every Temporal execution of the workflow, as Temporal lists them (a reset makes a new one);
    // rows written before Keel recorded them fall back to the executions the ledger saw.
    executions: run.executions?.length ? run.executions : ledgerExecutions,
    cache: (run.cache ?? null) as RunView['cache'],
  };
}

export interface Cursor {
  createdAt: string;
  id: string;
}

export function encodeCursor(run: Pick<Run, 'createdAt' | 'id'>): string {
  return Buffer.from(JSON.stringify({ createdAt: run.createdAt.toISOString(), id: run.id })).toString('base64url');
}

export function decodeCursor(cursor: string): Cursor {
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (
      value && typeof value === 'object' && 'createdAt' in value && 'id' in value &&
      typeof value.createdAt === 'string' && typeof value.id === 'string' && !Number.isNaN(Date.parse(value.createdAt))
    ) {
      return { createdAt: value.createdAt, id: value.id };
    }
  } catch {
    // fall through to the problem below
  }
  throw problems.validation([{ path: 'cursor', message: 'is not a cursor this API issued' }], 'query string');
}
