import type { Config } from '../config';
import type { Run, RunStep } from '../generated/prisma/client';
import { runLinks } from '../api/links';
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

/** One ledger attempt as the API shows it (the run view and the trace). */
export function attemptView(s: RunStep): RunView['steps'][number]['attempts'][number] {
  return {
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
  };
}

export function runView(config: Config, run: Run & { steps: RunStep[] }): RunView {
  const byStep = new Map<string, RunView['steps'][number]>();
  for (const s of run.steps) {
    const entry = byStep.get(s.step) ?? { step: s.step, attempts: [] };
    entry.attempts.push(attemptView(s));
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

/** Runs exist between years 1 and 9999 (Postgres and Prisma refuse instants before year 1). */
const EARLIEST = Date.parse('0001-01-01T00:00:00.000Z');
const LATEST = Date.parse('9999-12-31T23:59:59.999Z');
export const clampInstant = (ms: number) => new Date(Math.min(LATEST, Math.max(EARLIEST, ms)));

export interface Cursor {
  createdAt: Date;
  id: string;
}

/**
 * A page position as 24 bytes (the creation time in milliseconds, then the run id's 16 bytes),
 * base64url: 32 characters. Every such string decodes to a position, which is what the
 * document's pattern promises; a time outside the years runs exist in is clamped into them.
 */
export function encodeCursor(run: Pick<Run, 'createdAt' | 'id'>): string {
  const bytes = Buffer.alloc(24);
  bytes.writeBigUInt64BE(BigInt(run.createdAt.getTime() - EARLIEST));
  Buffer.from(run.id.replaceAll('-', ''), 'hex').copy(bytes, 8);
  return bytes.toString('base64url');
}

export function decodeCursor(cursor: string): Cursor {
  const bytes = Buffer.from(cursor, 'base64url');
  const offset = bytes.readBigUInt64BE(0);
  const hex = bytes.subarray(8, 24).toString('hex');
  return {
    createdAt: clampInstant(EARLIEST + Number(offset > BigInt(LATEST - EARLIEST) ? BigInt(LATEST - EARLIEST) : offset)),
    id: `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`,
  };
}
