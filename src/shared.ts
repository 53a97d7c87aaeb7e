/**
 * What crosses the workflow boundary: task-queue names, search attributes, queries and the
 * payload types shared by the API, workflows and activities. Workflow code imports this, so
 * it must stay free of I/O and Node built-ins.
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { defineQuery } from '@temporalio/workflow';

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
  'completed',
  'failed',
  'cancelled',
  'terminated',
  'timed_out',
] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];
export const TERMINAL_STATUSES: readonly RunStatus[] = ['completed', 'failed', 'cancelled', 'terminated', 'timed_out'];

export const RUN_TYPES = ['answer'] as const;
export type RunType = (typeof RUN_TYPES)[number];

export interface ModelOptions {
  model: string;
  temperature?: number;
  top_p?: number;
  max_tokens?: number;
}

export interface AnswerWorkflowInput {
  runId: string;
  tenantId: string;
  question: string;
  options: ModelOptions;
}

export interface AnswerResult {
  answer: string;
  model: string;
  finishReason: string;
  usage: { promptTokens: number; completionTokens: number };
}

/** Live progress, readable while the run is in flight. */
export interface RunProgress {
  status: RunStatus;
  step: string | null;
  completedSteps: string[];
}

export const runProgressQuery = defineQuery<RunProgress>('runProgress');

/** Failure types that Temporal must not retry; activities throw them, workflows list them. */
export const FailureType = {
  modelRequestRejected: 'ModelRequestRejected',
  modelQuotaExhausted: 'ModelQuotaExhausted',
  invalidInput: 'InvalidInput',
  runNotFound: 'RunNotFound',
} as const;
