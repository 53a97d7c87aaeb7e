/**
 * The versions a run starts with, recorded on its row (`run.versions`): which API build took it,
 * the model configuration and prompt variants it will use, the release arm, the tenant's corpus
 * version and the guardrail policy version. What each step then actually used (worker build,
 * prompt versions, model configuration) is recorded per attempt in the ledger (`lineage`).
 */
import { buildId } from '../build-info';
import type { Config } from '../config';
import type { Db } from '../db/client';
import { modelConfig, type ModelConfigEntry } from '../llm/models';
import type { ModelOptions } from '../shared';
import { applyRelease, currentReleasePolicy, type ReleaseDecision, type ReleasePolicyView } from './release';

export interface RunVersions {
  apiBuild: string;
  modelConfig: ModelConfigEntry;
  /** Prompt variants by prompt id; empty: every prompt's own file. */
  promptVariants: Record<string, string>;
  release: ReleaseDecision;
  corpusVersion: number;
  /** The tenant's guardrail policy version; null until guardrail policies exist for the tenant. */
  guardrailPolicyVersion: number | null;
}

export async function planRunVersions<O extends ModelOptions>(
  deps: { db: Db; config: Config },
  req: { tenantId: string; runId: string; options: O; requestedModel: boolean },
  /** The tenant's release policy and corpus version, when the caller read them already (src/runs/tenant-context.ts). */
  read?: { release: ReleasePolicyView | null; corpusVersion: number },
): Promise<{ options: O; versions: RunVersions }> {
  const [policy, corpus] = read
    ? [read.release, { version: read.corpusVersion }]
    : await Promise.all([
        currentReleasePolicy(deps.db, req.tenantId),
        deps.db.corpusVersion.findUnique({ where: { tenantId: req.tenantId }, select: { version: true } }),
      ]);
  const { options, decision } = applyRelease(policy, req.runId, req.options, req.requestedModel);
  return {
    options,
    versions: {
      apiBuild: deps.config.KEEL_BUILD_ID ?? buildId(),
      modelConfig: modelConfig(deps.config.llm.baseURL, deps.config.KEEL_MODEL_PRICES, options.model),
      promptVariants: options.prompts ?? {},
      release: decision,
      corpusVersion: corpus?.version ?? 0,
      guardrailPolicyVersion: null,
    },
  };
}
