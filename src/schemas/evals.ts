import { z } from 'zod';
import { JsonValue, storableString, visibleText } from './strings';

/** Evaluations of golden datasets through the real pipeline (src/evals, `npm run eval`). */

export const EvalScores = z.partialRecord(z.enum(['exact', 'contains', 'json', 'grounded', 'judge']), z.number().min(0).max(1));

export const EvalCaseResult = z
  .object({
    caseId: z.string().regex(/^[A-Za-z0-9_.-]{1,100}$/),
    runId: storableString().max(200).nullable(),
    status: storableString().max(40),
    passed: z.boolean(),
    scores: EvalScores,
    // Any JSON, typed loosely for the runner and the store; the document states the string rules.
    output: (JsonValue as z.ZodType<unknown>).optional(),
    latencyMs: z.number().int().min(0).max(2_147_483_647).nullable(),
    costUsd: z.number().min(0).max(1_000_000).nullable(),
  })
  .strict();
export type EvalCaseResult = z.infer<typeof EvalCaseResult>;

export const CreateEvaluationRequest = z
  .object({
    name: visibleText(200),
    dataset: storableString().min(1).max(500),
    datasetHash: z.string().regex(/^[0-9a-f]{64}$/),
    cases: z.array(EvalCaseResult).min(1).max(5000),
  })
  .strict();
export type CreateEvaluationRequest = z.infer<typeof CreateEvaluationRequest>;

export const EvalMetrics = z.object({
  cases: z.number().int(),
  passRate: z.number(),
  /** Mean of each score over the cases that have it. */
  scores: z.record(z.string(), z.number()),
  latencyMsP50: z.number().nullable(),
  costUsd: z.number(),
});
export type EvalMetrics = z.infer<typeof EvalMetrics>;

export const EvalVersionSet = z.object({
  apiBuilds: z.array(z.string()),
  workerBuilds: z.array(z.string()),
  modelConfigs: z.array(z.string()),
  prompts: z.array(z.string()),
  corpusVersions: z.array(z.number().int()),
  releaseArms: z.array(z.string()),
});
export type EvalVersionSet = z.infer<typeof EvalVersionSet>;

export const EvaluationSummary = z.object({
  id: z.string(),
  name: z.string(),
  dataset: z.string(),
  datasetHash: z.string(),
  versions: EvalVersionSet,
  metrics: EvalMetrics,
  createdAt: z.string(),
}).meta({ id: 'EvaluationSummary' });
export type EvaluationSummary = z.infer<typeof EvaluationSummary>;

export const EvaluationView = EvaluationSummary.extend({ cases: z.array(EvalCaseResult) }).meta({ id: 'Evaluation' });
export type EvaluationView = z.infer<typeof EvaluationView>;

export const EvaluationList = z.object({ data: z.array(EvaluationSummary) });
export const EvalIdParams = z.object({ id: z.uuid() }).strict();
