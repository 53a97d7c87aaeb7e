import { createHash } from 'node:crypto';
import { z } from 'zod';
import { storableString } from '../schemas/strings';
import { PII_TYPES } from './pii';

/**
 * A tenant's guardrail policy: which layers run, their thresholds and what each does on a hit.
 * Versioned per tenant (`guardrail_policy` rows, never updated in place); the version a run
 * used is recorded in its ledger and result. Tenants without a row get DEFAULT_POLICY.
 */
const Action = z.enum(['off', 'flag', 'block']);

// Closed at every level: an unknown key is a typo to report, and the API document then allows
// nothing the API refuses.
export const GuardrailPolicy = z
  .object({
    limits: z
      .object({
        maxChars: z.number().int().positive().max(1_000_000).default(20_000),
        /** Estimated as characters / 4, the usual rule of thumb for English BPE tokenizers. */
        maxTokens: z.number().int().positive().max(250_000).default(4_000),
      })
      .strict()
      .prefault({}),
    injection: z
      .object({
        action: Action.default('block'),
        /** Classifier scores at or above this are flagged (recorded, the run goes on); unset: the shipped model's own threshold. */
        threshold: z.number().min(0).max(1).optional(),
        /**
         * Classifier scores at or above this block the run. Above the flag threshold by default:
         * the training data's benign texts are long, so short, ordinary questions can score in
         * between (docs/guardrails.md). Rule hits block whatever the score.
         */
        blockAt: z.number().min(0).max(1).default(0.9),
        /** Attack-pattern rule hits count as injections too. */
        rules: z.boolean().default(true),
      })
      .strict()
      .prefault({}),
    pii: z
      .object({
        action: z.enum(['off', 'mask', 'block']).default('mask'),
        types: z.array(z.enum(Object.keys(PII_TYPES) as [keyof typeof PII_TYPES, ...Array<keyof typeof PII_TYPES>])).optional(),
      })
      .strict()
      .prefault({}),
    /** Retrieved chunks through the injection layers: flagged chunks are dropped from the context. */
    context: z.object({ screen: z.boolean().default(true) }).strict().prefault({}),
    output: z
      .object({
        /** The run's canary token in an answer means the system prompt leaked. */
        canary: Action.default('block'),
        pii: z.enum(['off', 'mask', 'block']).default('mask'),
        restrictedTerms: z.array(storableString().min(1).max(200)).max(500).default([]),
        bannedPhrases: z.array(storableString().min(1).max(200)).max(500).default([]),
        requiredDisclaimer: storableString().min(1).max(1000).optional(),
        harmful: Action.default('block'),
        groundedness: z
          .object({
            action: z.enum(['off', 'annotate', 'regenerate', 'block']).default('annotate'),
            /** A claim whose support score is below this is unsupported. */
            minSupport: z.number().min(0).max(1).default(0.5),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
  })
  .strict();
export type GuardrailPolicy = z.infer<typeof GuardrailPolicy>;
export type GuardrailPolicyInput = z.input<typeof GuardrailPolicy>;

export const DEFAULT_POLICY: GuardrailPolicy = GuardrailPolicy.parse({});

/** The policy a run used, as recorded in its ledger and result. */
export interface RecordedPolicy {
  /** `<tenant version>@<hash>` (`default@…` without a tenant row): part of any cache key over guarded answers. */
  policyVersion: string;
  version: number | null;
  policy: GuardrailPolicy;
}

/**
 * The sections of a recorded policy that one later check reads. The answer workflow hands
 * screenContext and guardOutput only theirs: the policy travels in each activity's input in the
 * history, and a tenant's output lists alone may run to 200 KB (docs/lean-orchestration.md,
 * session 8). Inputs recorded before carry the whole policy, which has every section.
 */
export interface PolicySections<K extends keyof GuardrailPolicy> {
  policyVersion: string;
  version: number | null;
  policy: Pick<GuardrailPolicy, K>;
}

export function recordPolicy(policy: GuardrailPolicy, version: number | null): RecordedPolicy {
  const hash = createHash('sha256').update(JSON.stringify(policy)).digest('hex').slice(0, 12);
  return { policyVersion: `${version ?? 'default'}@${hash}`, version, policy };
}
