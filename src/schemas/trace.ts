import { z } from 'zod';
import { storableString, visibleText } from './strings';
import { RUN_STATUSES, RUN_TYPES } from '../shared';
import { AuditEventView } from './operator';
import { RunLinks, StepAttempt } from './runs';

/** The shapes of traceability: a run's lineage and the tenant's release policy. */

export const PromptRefView = z.object({ id: z.string(), variant: z.string().nullable(), version: z.string() });

export const ModelConfigView = z.object({
  id: z.string(),
  model: z.string(),
  endpoint: z.string(),
  price: z.object({ input: z.number(), output: z.number() }).nullable(),
});

export const ReleaseDecisionView = z.object({
  policyVersion: z.number().int().nullable(),
  arm: z.enum(['stable', 'candidate']),
  percent: z.number(),
});

export const TraceAttempt = StepAttempt.extend({
  /** Worker build, prompt versions, model configuration and parameters of this attempt. */
  lineage: z
    .object({
      build: z.string().optional(),
      prompts: z.array(PromptRefView).optional(),
      modelConfig: ModelConfigView.optional(),
      params: z.record(z.string(), z.unknown()).optional(),
    })
    .nullable(),
});

export const TraceStep = z.object({ step: z.string(), activityId: z.string(), attempts: z.array(TraceAttempt) });

export const RetrievedChunkView = z.object({
  chunkId: z.string(),
  documentId: z.string(),
  /** The document version the chunk came from; null for runs recorded before versions were kept. */
  versionId: z.string().nullable(),
  page: z.number().int(),
  score: z.number(),
  lexicalRank: z.number().int().nullable(),
  vectorRank: z.number().int().nullable(),
});

export const RunTrace = z
  .object({
    id: z.string(),
    type: z.enum(RUN_TYPES),
    status: z.enum(RUN_STATUSES),
    createdAt: z.string(),
    startedAt: z.string().nullable(),
    completedAt: z.string().nullable(),
    input: z.unknown(),
    options: z.unknown(),
    result: z.unknown().nullable(),
    error: z.unknown().nullable(),
    versions: z.object({
      /** The API build that accepted the run. */
      apiBuild: z.string().nullable(),
      /** Every worker build that ran an attempt, in order of first use. */
      workerBuilds: z.array(z.string()),
      modelConfigs: z.array(ModelConfigView),
      prompts: z.array(PromptRefView),
      release: ReleaseDecisionView.nullable(),
      /** The tenant's corpus version when the run started. */
      corpusVersion: z.number().int().nullable(),
      guardrailPolicyVersion: z.number().int().nullable(),
    }),
    /** Temporal executions of the run's workflow (a retry resets into a new one), each with its Web UI page. */
    executions: z.array(z.object({ workflowRunId: z.string(), temporalUi: z.string() })),
    steps: z.array(TraceStep),
    retrieved: z.array(RetrievedChunkView),
    /** Candidates and judge scores (best_of_n) or rounds (refine), when the strategy was not `single`. */
    strategy: z.unknown().nullable(),
    totals: z.object({ attempts: z.number().int(), tokensIn: z.number().int(), tokensOut: z.number().int(), costUsd: z.number() }),
    audit: z.array(AuditEventView),
    links: RunLinks,
  })
  .meta({ id: 'RunTrace' });
export type RunTrace = z.infer<typeof RunTrace>;

export const ReleaseCandidateBody = z
  .object({
    model: storableString().min(1).max(200).optional(),
    prompts: z.record(z.string().regex(/^[a-z][a-z0-9_-]{0,63}$/), z.string().regex(/^[a-z][a-z0-9_-]{0,63}$/)).optional(),
  })
  .strict();

export const PutReleasePolicyRequest = z
  .object({
    candidate: ReleaseCandidateBody,
    percent: z.number().int().min(0).max(100),
    reason: visibleText(1000),
  })
  .strict();

export const ReleasePolicyView = z.object({
  version: z.number().int(),
  candidate: ReleaseCandidateBody,
  percent: z.number().int(),
  actor: z.string(),
  reason: z.string().nullable(),
  createdAt: z.string(),
});

export const ReleasePolicyResponse = z
  .object({ current: ReleasePolicyView.nullable(), history: z.array(ReleasePolicyView) })
  .meta({ id: 'ReleasePolicy' });

export const DriftQuery = z.object({ days: z.coerce.number().int().min(1).max(90).default(30) }).strict();

const DriftFinding = z.object({ metric: z.enum(['latencyMs', 'costUsd', 'failureRate']), day: z.string(), value: z.number(), mean: z.number(), stddev: z.number(), z: z.number() });

export const DriftReportView = z
  .object({
    windowDays: z.number().int(),
    sigma: z.number(),
    versions: z.array(
      z.object({
        version: z.string(),
        days: z.array(z.object({ day: z.string(), attempts: z.number().int(), latencyMs: z.number(), costUsd: z.number(), failureRate: z.number() })),
        drifting: z.array(DriftFinding),
      }),
    ),
    runs: z.array(z.object({ day: z.string(), runs: z.number().int(), failureRate: z.number(), blockRate: z.number() })),
  })
  .meta({ id: 'DriftReport' });
