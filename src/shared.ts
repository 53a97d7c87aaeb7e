/**
 * What crosses the workflow boundary: task-queue names, search attributes, queries and the
 * payload types shared by the API, workflows and activities. Workflow code imports this, so
 * it must stay free of I/O and Node built-ins.
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { defineQuery, defineUpdate } from '@temporalio/workflow';

export const TaskQueue = {
  workflows: 'keel-workflows',
  llm: 'keel-llm',
  ingest: 'keel-ingest',
} as const;

export const SearchAttr = {
  tenant: defineSearchAttributeKey('KeelTenant', SearchAttributeType.KEYWORD),
  runType: defineSearchAttributeKey('KeelRunType', SearchAttributeType.KEYWORD),
  status: defineSearchAttributeKey('KeelStatus', SearchAttributeType.KEYWORD),
  model: defineSearchAttributeKey('KeelModel', SearchAttributeType.KEYWORD),
} as const;

export const KEEL_SEARCH_ATTRIBUTES = Object.values(SearchAttr);

export const RUN_STATUSES = [
  'queued',
  'running',
  /** A step ran out of retries under `onFailure: "pause"`; the run waits for an operator. */
  'needs_attention',
  'completed',
  'failed',
  'cancelled',
  'terminated',
  'timed_out',
  /** A guardrail stopped the run; `error.reasons` says which layer and rule, never the content. */
  'blocked',
] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];
export const TERMINAL_STATUSES: readonly RunStatus[] = ['completed', 'failed', 'cancelled', 'terminated', 'timed_out', 'blocked'];

export const RUN_TYPES = ['answer', 'ingest', 'extract'] as const;
export type RunType = (typeof RUN_TYPES)[number];

export interface ModelOptions {
  model: string;
  temperature?: number;
  top_p?: number;
  max_tokens?: number;
  /** Answer strategy (src/workflows/strategies.ts); model calls ignore these. */
  strategy?: AnswerStrategy;
  n?: number;
  rounds?: number;
  /** Prompt variants by prompt id (`prompts/<id>@<variant>.md`), set by a release policy's candidate arm. */
  prompts?: Record<string, string>;
}

export const ANSWER_STRATEGIES = ['single', 'best_of_n', 'refine'] as const;
export type AnswerStrategy = (typeof ANSWER_STRATEGIES)[number];

/** A retrieved chunk as the prompt and the citations see it. */
export interface ContextChunk {
  chunkId: string;
  documentId: string;
  /** The document version the chunk belongs to (absent in runs recorded before it was kept). */
  versionId?: string;
  page: number;
  heading: string | null;
  text: string;
  /** Reciprocal-rank-fusion score, and the rank each retriever gave it (null: not found by it). */
  score: number;
  lexicalRank: number | null;
  vectorRank: number | null;
}

/** A run's prompt secrets (src/guardrails/canary.ts): the random tag boundary and the canary. */
export interface PromptEnclosure {
  boundary: string;
  canary: string;
}

export interface Citation {
  chunkId: string;
  documentId: string;
  page: number;
}

/** What a run does when a step exhausts its retries: fail, or pause for an operator. */
export const ON_FAILURE_POLICIES = ['fail', 'pause'] as const;
export type OnFailurePolicy = (typeof ON_FAILURE_POLICIES)[number];

/** A request's `Cache-Control`, as the run's cache steps obey it. */
export interface CacheControl {
  /** false (`no-cache`): answer fresh, don't look up. */
  lookup: boolean;
  /** false (`no-store`): don't keep this result. */
  store: boolean;
}

/** On a run whose result came from the cache (the run row's `cache`, and `result.cache`). */
export interface CacheHitInfo {
  kind: 'exact' | 'semantic';
  originalRunId: string;
  ageSeconds: number;
  similarity?: number;
}

export interface AnswerWorkflowInput {
  runId: string;
  tenantId: string;
  question: string;
  options: ModelOptions;
  /** Absent in runs started before the cache existed, which means look up and store. */
  cache?: CacheControl;
  /** Absent in runs started before the policy existed, which means `fail`. */
  onFailure?: OnFailurePolicy;
  /** The API key that started the run: the only one its answer is de-masked for. */
  callerKeyId?: string;
}

export interface AnswerResult {
  answer: string;
  model: string;
  finishReason: string;
  usage: { promptTokens: number; completionTokens: number };
  citations?: Citation[];
  /** The top-k chunks retrieval gave the model, best first, with their fused score and per-retriever ranks. */
  retrieved?: Array<Omit<ContextChunk, 'text' | 'heading'>>;
  /** How the answer was reached, when the strategy was not `single`. */
  strategy?: StrategyTrace;
  /** Set when this answer was served from the cache rather than computed for this run. */
  cache?: CacheHitInfo;
  /** What the guardrails decided (runs under the `guardrails-v1` patch). */
  guardrails?: GuardrailTrace;
}

/** The guardrail record of a run: the policy version and every decision, content-free. */
export interface GuardrailTrace {
  policyVersion: string;
  decisions: Array<{ layer: string; rule: string; score?: number; action: string; latencyMs: number; counts?: Record<string, number> }>;
  droppedChunks?: Array<{ chunkId: string; documentId: string; rule: string; score?: number }>;
  regenerated?: boolean;
}

/**
 * The answer a run returns once an output check passed: the checked text, and the guardrail record
 * with that check's decisions. The answer workflow and guardOutput (which stores it, since
 * `answer-lean-v4`) build it with this one function.
 */
export function checkedAnswer(result: AnswerResult, trace: GuardrailTrace, checked: { text: string; decisions: GuardrailTrace['decisions'] }): AnswerResult {
  return { ...result, answer: checked.text, guardrails: { ...trace, decisions: [...trace.decisions, ...checked.decisions] } };
}

export interface StrategyTrace {
  name: AnswerStrategy;
  candidates?: Array<{ index: number; answer: string; temperature?: number; score?: number }>;
  winner?: number;
  rounds?: Array<{ round: number; score: number; critique: string; revised: boolean }>;
  stoppedBy?: 'score' | 'round-limit';
}

export interface IngestWorkflowInput {
  runId: string;
  tenantId: string;
  documentId: string;
  versionId: string;
  /** Absent in runs started before ingest could pause, which means `fail`. */
  onFailure?: OnFailurePolicy;
}

export interface IngestResult {
  documentId: string;
  versionId: string;
  pages: number;
  chunks: number;
  embedded: boolean;
  corpusVersion: number;
}

/**
 * Where an extraction reads its text: a document, or inline text in object storage (`textKey`).
 * `text` is the inline form of runs recorded before claim-check; the API no longer sends it.
 */
export type ExtractSource = { documentId: string } | { textKey: string } | { text: string };
/** [start, end) character offsets of a section in its source text. */
export type TextRange = [number, number];
/** One section's validated data, inline or in object storage. */
export interface ExtractSectionPart {
  data?: unknown;
  resultKey?: string;
}

export interface ExtractWorkflowInput {
  runId: string;
  tenantId: string;
  source: ExtractSource;
  schema: Record<string, unknown>;
  schemaName?: string;
  options: ModelOptions;
  /** The request's Cache-Control; absent (runs started before the extract cache) means look up and store. */
  cache?: CacheControl;
  /** Absent in runs started before extract could pause, which means `fail`. */
  onFailure?: OnFailurePolicy;
}

export interface ExtractResult {
  /** Null when the merged data was too large to carry inline: then `resultKey` holds it (the run row always has it). */
  data: unknown;
  resultKey?: string;
  sections: number;
  repaired: boolean;
  model: string;
  /** Set when this result was served from the cache (the same source text and schema extracted before). */
  cache?: CacheHitInfo;
}
/** Live progress, readable while the run is in flight. */
export interface RunProgress {
  status: RunStatus;
  step: string | null;
  completedSteps: string[];
}

export const runProgressQuery = defineQuery<RunProgress>('runProgress');

export const RESUME_ACTIONS = ['retry', 'skip', 'abort'] as const;
export type ResumeAction = (typeof RESUME_ACTIONS)[number];

export interface ResumeRequest {
  action: ResumeAction;
  reason: string;
  /** Who asked, for the run's history: `key:<api key id>`. */
  actor: string;
}

export interface ResumeOutcome {
  accepted: true;
  action: ResumeAction;
  step: string;
}

/**
 * Steers a run paused on failure. An update rather than a signal so the operator learns at once
 * whether the run accepted it (the validator rejects a run that is not paused, or `skip` on a
 * step that is not optional).
 */
export const resumeRunUpdate = defineUpdate<ResumeOutcome, [ResumeRequest]>('resumeRun');

/** Why a paused run cannot take an update; the API maps it to 409. */
export const ResumeRejection = {
  notPaused: 'RunNotPaused',
  stepNotOptional: 'StepNotOptional',
  /** An update with no `actor` or no `reason`: who and why are required for the audit trail. */
  unidentified: 'ResumeUnidentified',
} as const;

/** Failure types that Temporal must not retry; activities throw them, workflows list them. */
export const FailureType = {
  modelRequestRejected: 'ModelRequestRejected',
  modelQuotaExhausted: 'ModelQuotaExhausted',
  invalidInput: 'InvalidInput',
  runNotFound: 'RunNotFound',
  documentRejected: 'DocumentRejected',
  extractionInvalid: 'ExtractionInvalid',
  operatorAborted: 'OperatorAborted',
  guardrailBlocked: 'GuardrailBlocked',
} as const;
