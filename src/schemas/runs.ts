import { z } from 'zod';
import { isBlankAfterSanitizing } from '../guardrails/sanitize-text';
import { ANSWER_STRATEGIES, ON_FAILURE_POLICIES, RUN_STATUSES, RUN_TYPES } from '../shared';
import { JsonObject, ResourceName, storableString, visibleText } from './strings';

/**
 * The shapes of the runs API. Model options keep the OpenAI parameter names (`top_p`,
 * `max_tokens`) that integrators already know; everything else is camelCase.
 */
export const ModelOptionsRequest = z
  .object({
    model: storableString().min(1).max(200).optional(),
    temperature: z.number().min(0).max(2).optional(),
    top_p: z.number().gt(0).max(1).optional(),
    max_tokens: z.number().int().min(1).max(32_768).optional(),
    /** Answer runs only; the tenant limits (KEEL_MAX_CANDIDATES, KEEL_MAX_REFINE_ROUNDS) are checked on top. */
    strategy: z.enum(ANSWER_STRATEGIES).optional(),
    n: z.number().int().min(1).max(16).optional(),
    rounds: z.number().int().min(1).max(10).optional(),
  })
  .strict();
export type ModelOptionsRequest = z.infer<typeof ModelOptionsRequest>;

/** Text that sanitizes to nothing (zero-width, bidi or control characters only) could never run. */
const VISIBLE_TEXT = { message: 'must contain visible characters (it has only invisible or control characters)' };

export const AnswerInput = z
  .object({
    question: visibleText(16_000).refine((q) => !isBlankAfterSanitizing(q), VISIBLE_TEXT),
  })
  .strict();
export type AnswerInput = z.infer<typeof AnswerInput>;

/**
 * Exactly one source (`documentId` or `text`) and exactly one schema (`schema` or `schemaName`):
 * the four combinations as strict objects, so the document says it with `oneOf`.
 */
const extractSources = {
  documentId: z.object({ documentId: z.uuid() }),
  text: z.object({ text: visibleText(500_000).refine((t) => !isBlankAfterSanitizing(t), VISIBLE_TEXT) }),
};
const extractSchemas = {
  schema: z.object({
    /** An inline JSON Schema, or the name of one registered with PUT /v1/schemas/:name. */
    schema: JsonObject.meta({ description: 'An inline JSON Schema (draft 2020-12).' }),
  }),
  schemaName: z.object({ schemaName: ResourceName.meta({ description: 'The name of a schema registered with `PUT /v1/schemas/{name}`.' }) }),
};
export const ExtractInput = z.xor(
  [
    extractSources.documentId.extend(extractSchemas.schema.shape).strict(),
    extractSources.documentId.extend(extractSchemas.schemaName.shape).strict(),
    extractSources.text.extend(extractSchemas.schema.shape).strict(),
    extractSources.text.extend(extractSchemas.schemaName.shape).strict(),
  ],
  { error: 'give exactly one of documentId and text, and exactly one of schema and schemaName' },
).meta({ id: 'ExtractInput' });
export type ExtractInput = z.infer<typeof ExtractInput>;

export const CreateRunRequest = z.discriminatedUnion('type', [
  z
    .object({
      type: z.literal('extract'),
      input: ExtractInput,
      options: ModelOptionsRequest.default({}),
      /** `pause`: a step that runs out of retries parks the run as `needs_attention` for an operator. */
      onFailure: z.enum(ON_FAILURE_POLICIES).optional(),
    })
    .strict(),
  z
    .object({
      type: z.literal('answer'),
      input: AnswerInput,
      options: ModelOptionsRequest.default({}),
      /** `pause`: a step that runs out of retries parks the run as `needs_attention` for an operator. */
      onFailure: z.enum(ON_FAILURE_POLICIES).optional(),
    })
    .strict(),
]).meta({ id: 'CreateRunRequest' });
export type CreateRunRequest = z.infer<typeof CreateRunRequest>;

export const RunId = z.string().uuid();

export const RunIdParams = z.object({ id: z.uuid().meta({ description: 'A run id, as `POST /v1/runs` or an upload returned it.' }) }).strict();
export type RunIdParams = z.infer<typeof RunIdParams>;

/**
 * A page position: 32 base64url characters (24 bytes: a creation time in milliseconds and a run
 * id). Any such string is a position, so the document's pattern is the whole rule.
 */
export const Cursor = z.string().regex(/^[A-Za-z0-9_-]{32}$/, 'must be a `nextCursor` this API returned (32 base64url characters)');

/**
 * An RFC 3339 instant. Any year the format allows is accepted; runs exist only between years 1
 * and 9999, so a bound outside them filters as that end of the range does.
 */
const Instant = z.iso.datetime({ offset: true });

export const ListRunsQuery = z
  .object({
    status: z.enum(RUN_STATUSES).optional(),
    type: z.enum(RUN_TYPES).optional(),
    createdAfter: Instant.optional(),
    createdBefore: Instant.optional(),
    limit: z.coerce.number().int().min(1).max(100).default(20),
    cursor: Cursor.optional(),
  })
  .strict();
export type ListRunsQuery = z.infer<typeof ListRunsQuery>;

export const RunLinks = z.object({ self: z.string(), temporalUi: z.string() });

export const StepAttempt = z.object({
  attempt: z.number().int(),
  status: z.string(),
  startedAt: z.string(),
  endedAt: z.string().nullable(),
  latencyMs: z.number().nullable(),
  model: z.string().nullable(),
  tokensIn: z.number().nullable(),
  tokensOut: z.number().nullable(),
  costUsd: z.number().nullable(),
  error: z.unknown().nullable(),
  workflowRunId: z.string(),
});

export const RunStepView = z.object({ step: z.string(), attempts: z.array(StepAttempt) });

export const CacheHitView = z.object({
  kind: z.enum(['exact', 'semantic']),
  originalRunId: z.string().meta({ description: 'The run that computed the result.' }),
  ageSeconds: z.number().int().min(0).meta({ description: 'How long ago that run stored it.' }),
  similarity: z.number().optional().meta({ description: 'Semantic hits: cosine similarity of the two questions.' }),
}).meta({ id: 'CacheHit' });

export const RunSummary = z.object({
  id: z.string(),
  type: z.enum(RUN_TYPES),
  status: z.enum(RUN_STATUSES),
  model: z.string().nullable(),
  createdAt: z.string(),
  startedAt: z.string().nullable(),
  completedAt: z.string().nullable(),
  links: RunLinks,
}).meta({ id: 'RunSummary' });
export type RunSummary = z.infer<typeof RunSummary>;

export const RunView = RunSummary.extend({
  input: z.unknown(),
  options: z.unknown(),
  result: z.unknown().nullable(),
  error: z.unknown().nullable(),
  steps: z.array(RunStepView),
  /** Temporal executions (workflow run ids) this run has had, oldest first. */
  executions: z.array(z.string()),
  /** Set when the result was served from the cache. */
  cache: CacheHitView.nullable(),
}).meta({ id: 'RunView' });
export type RunView = z.infer<typeof RunView>;

export const CreateRunResponse = z.object({ id: z.string(), status: z.enum(RUN_STATUSES), links: RunLinks }).meta({ id: 'CreateRunResponse' });
export type CreateRunResponse = z.infer<typeof CreateRunResponse>;

/** `201` from POST /v1/runs when the exact cache answered: the run exists, already completed. */
export const CachedRunResponse = CreateRunResponse.extend({
  status: z.literal('completed'),
  cached: z.literal(true),
  cache: CacheHitView,
  result: z.unknown(),
}).meta({ id: 'CachedRunResponse' });
export type CachedRunResponse = z.infer<typeof CachedRunResponse>;

export const CachePurged = z.object({
  epoch: z.number().int().meta({ description: "The tenant's new cache epoch: entries of older epochs are unreachable." }),
  deleted: z.number().int().nullable().meta({ description: 'Redis keys deleted; null when Redis was unreachable (the entries then expire, unreachable).' }),
}).meta({ id: 'CachePurged' });

export const RunList = z.object({ data: z.array(RunSummary), nextCursor: z.string().nullable() }).meta({ id: 'RunList' });
export type RunList = z.infer<typeof RunList>;
