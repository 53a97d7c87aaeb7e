import type { Db } from '../db/client';
import { queryRaw } from '../db/raw';
import { Prisma } from '../generated/prisma/client';
import { tenantCacheSettingsSql, type TenantCacheSettingsRow } from '../cache/result-cache';
import { latestPolicyRowSql } from '../guardrails/store';
import type { CacheHitInfo, RunStatus } from '../shared';
import { terminalSql, type RunError } from './status';

export interface RunRef {
  runId: string;
  tenantId: string;
}

/** This run's row, writable by `execution`: not terminal, or made terminal by another execution. */
function writableBy(ref: RunRef, execution: string): Prisma.Sql {
  return Prisma.sql`id = ${ref.runId} AND tenant_id = ${ref.tenantId}::uuid
    AND (status NOT IN (${terminalSql()}) OR workflow_run_id IS DISTINCT FROM ${execution})`;
}

function withExecution(execution: string): Prisma.Sql {
  return Prisma.sql`workflow_run_id = ${execution},
    executions = CASE WHEN ${execution} = ANY(COALESCE(executions, '{}')) THEN executions
                      ELSE array_append(COALESCE(executions, '{}'), ${execution}::text) END`;
}

/**
 * The run `completed` with its result, as a statement for the ledger to run together with the
 * step's `completed` row (storeResult). `cache`: the answer came from the result cache (kept on
 * the row for reads and usage).
 */
function completedSql(ref: RunRef, execution: string, result: unknown, model: string | undefined, cache?: CacheHitInfo): Prisma.Sql {
  return Prisma.sql`
      UPDATE run SET status = 'completed', result = ${JSON.stringify(result)}::jsonb, error = NULL,
             model = COALESCE(${model ?? null}, model), completed_at = now(), ${withExecution(execution)}, updated_at = now(),
             cache = COALESCE(${cache ? JSON.stringify(cache) : null}::jsonb, cache)
      WHERE ${writableBy(ref, execution)}`;
}

/**
 * The transitions a run's own workflow makes, written by its activities with the Temporal execution
 * they run in. Each is one conditional UPDATE, so a re-delivered write changes nothing the second
 * time. A terminal status is final for its execution, but a newer execution of the workflow (an
 * operator reset it, from Keel, the Web UI or the CLI) supersedes it: the condition is "not
 * terminal, or written by another execution". `executions` gains the execution if it is new.
 * Terminations and closes that no workflow code sees are written by `syncRun` (./sync.ts).
 */
export function createRunTransitions(db: Db) {
  return {
    running: (ref: RunRef, execution: string) => db.$executeRaw`
      UPDATE run SET status = 'running', started_at = COALESCE(started_at, now()), error = NULL, result = NULL,
             completed_at = NULL, ${withExecution(execution)}, updated_at = now()
      WHERE ${writableBy(ref, execution)}`,

    /**
     * `running`, returning the run's input, the tenant's latest guardrail policy row (null: none
     * saved) and its cache settings in the same statement: the answer workflow's first step
     * (guardInput) reads the first two anyway, and its cache lookup the third, so marking the run
     * costs no extra round trip. No row when the run is not writable by this execution (the
     * caller then reads the input and the policy itself).
     */
    runningWithInput: (ref: RunRef, execution: string) => queryRaw<{ input: unknown; policy: { policy: unknown; version: number } | null; cache_settings: TenantCacheSettingsRow | null }>(db, Prisma.sql`
      UPDATE run SET status = 'running', started_at = COALESCE(started_at, now()), error = NULL, result = NULL,
             completed_at = NULL, ${withExecution(execution)}, updated_at = now()
      WHERE ${writableBy(ref, execution)}
      RETURNING input, ${latestPolicyRowSql(Prisma.raw('run.tenant_id'))} AS policy, ${tenantCacheSettingsSql(Prisma.raw('run.tenant_id'))} AS cache_settings`),

    needsAttention: (ref: RunRef, execution: string, error: RunError) => db.$executeRaw`
      UPDATE run SET status = 'needs_attention', error = ${JSON.stringify(error)}::jsonb, ${withExecution(execution)}, updated_at = now()
      WHERE ${writableBy(ref, execution)}`,

    /** An operator chose retry or skip: the run works again and the pause's error is history. */
    resumed: (ref: RunRef, execution: string) => db.$executeRaw`
      UPDATE run SET status = 'running', error = NULL, ${withExecution(execution)}, updated_at = now()
      WHERE id = ${ref.runId} AND tenant_id = ${ref.tenantId}::uuid AND status = 'needs_attention'`,

    finished: (ref: RunRef, execution: string, status: RunStatus, error: RunError | undefined) => db.$executeRaw`
      UPDATE run SET status = ${status}, error = ${error === undefined ? null : JSON.stringify(error)}::jsonb, result = NULL,
             completed_at = now(), ${withExecution(execution)}, updated_at = now()
      WHERE ${writableBy(ref, execution)}`,

    completedSql,
  };
}

export type RunTransitions = ReturnType<typeof createRunTransitions>;
