/**
 * Release control: a tenant's policy sends `percent` % of new runs to a candidate model and/or
 * prompt variants; the rest run the stable configuration. The arm is a pure function of the run
 * id (its SHA-256 as a number in [0, 100)), so a replayed or retried run keeps its arm and the
 * split over many runs is binomial around `percent`. Every change is a new policy version whose
 * row names who made it and why; rolling back is a new version with `percent: 0`.
 */
import { createHash } from 'node:crypto';
import type { z } from 'zod';
import type { Db } from '../db/client';
import { loadPrompt } from '../llm/prompt-templates';
import { ReleaseCandidateBody } from '../schemas/trace';
import type { ModelOptions } from '../shared';

export type ReleaseCandidate = z.infer<typeof ReleaseCandidateBody>;

export interface ReleasePolicyView {
  version: number;
  candidate: ReleaseCandidate;
  percent: number;
  actor: string;
  reason: string | null;
  createdAt: string;
}

export type ReleaseArm = 'stable' | 'candidate';

export interface ReleaseDecision {
  /** The policy version that decided, or null when the tenant has none. */
  policyVersion: number | null;
  arm: ReleaseArm;
  percent: number;
}

/** Where a run id falls in [0, 100): uniform over ids, stable for one id. */
export function releaseBucket(runId: string): number {
  const digest = createHash('sha256').update(runId).digest();
  return (digest.readUInt32BE(0) / 2 ** 32) * 100;
}

/** A `release_policy` row as the API shows it (the candidate validated). */
export function releasePolicyView(row: { version: number; candidate: unknown; percent: number; actor: string; reason: string | null; createdAt: Date }): ReleasePolicyView {
  return { version: row.version, candidate: ReleaseCandidateBody.parse(row.candidate), percent: row.percent, actor: row.actor, reason: row.reason, createdAt: row.createdAt.toISOString() };
}

export async function currentReleasePolicy(db: Db, tenantId: string): Promise<ReleasePolicyView | null> {
  const row = await db.releasePolicy.findFirst({ where: { tenantId }, orderBy: { version: 'desc' } });
  return row ? releasePolicyView(row) : null;
}

export async function releaseHistory(db: Db, tenantId: string): Promise<ReleasePolicyView[]> {
  const rows = await db.releasePolicy.findMany({ where: { tenantId }, orderBy: { version: 'desc' }, take: 100 });
  return rows.map(releasePolicyView);
}

/** Prompt variants a candidate names that have no file: a policy naming them would fail every candidate run. */
export function missingPromptVariants(candidate: ReleaseCandidate, dir: string): string[] {
  return Object.entries(candidate.prompts ?? {}).flatMap(([id, variant]) => {
    try {
      loadPrompt(id, variant, dir);
      return [];
    } catch {
      return [`${id}@${variant}`];
    }
  });
}

/** Appends a policy version; concurrent writers get distinct versions (the primary key decides). */
export async function setReleasePolicy(
  db: Db,
  tenantId: string,
  change: { candidate: ReleaseCandidate; percent: number; actor: string; reason?: string },
): Promise<ReleasePolicyView> {
  for (let tries = 0; ; tries++) {
    const current = await db.releasePolicy.findFirst({ where: { tenantId }, orderBy: { version: 'desc' }, select: { version: true } });
    try {
      const row = await db.releasePolicy.create({
        data: { tenantId, version: (current?.version ?? 0) + 1, candidate: change.candidate, percent: change.percent, actor: change.actor, reason: change.reason ?? null },
      });
      return releasePolicyView(row);
    } catch (err) {
      const duplicate = typeof err === 'object' && err !== null && 'code' in err && err.code === 'P2002';
      if (!duplicate || tries >= 5) throw err;
    }
  }
}

/**
 * Decides a new run's arm and applies the candidate to its options. A request that names its
 * model keeps it (the caller chose); prompt variants apply to every candidate run.
 */
export function applyRelease<O extends ModelOptions>(
  policy: ReleasePolicyView | null,
  runId: string,
  options: O,
  requestedModel: boolean,
): { options: O; decision: ReleaseDecision } {
  if (!policy || policy.percent <= 0 || releaseBucket(runId) >= policy.percent) {
    return { options, decision: { policyVersion: policy?.version ?? null, arm: 'stable', percent: policy?.percent ?? 0 } };
  }
  const { model, prompts } = policy.candidate;
  return {
    options: { ...options, ...(model && !requestedModel ? { model } : {}), ...(prompts ? { prompts } : {}) },
    decision: { policyVersion: policy.version, arm: 'candidate', percent: policy.percent },
  };
}
