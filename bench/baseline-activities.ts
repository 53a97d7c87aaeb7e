import type { ActivityDeps } from '../src/activities';
import { answerCall } from '../src/activities/generate';
import type { LedgerEntry } from '../src/activities/ledger';
import { retrieve } from '../src/activities/retrieve';
import { newEnclosure } from '../src/guardrails/canary';
import { checkInput, screenText } from '../src/guardrails/input';
import { checkOutput } from '../src/guardrails/output';
import { DEFAULT_POLICY } from '../src/guardrails/policy';
import type { AnswerResult, ContextChunk, ModelOptions, PromptEnclosure } from '../src/shared';

/** Usage and lineage go nowhere: the baseline keeps no ledger. */
const scratch = (): LedgerEntry => ({ usage: {}, lineage: {} });

/**
 * The bare-Temporal baseline's activities: the very code of Keel's guardrail, retrieval and model
 * steps (the same functions the answer workflow's activities call), with none of Keel's
 * bookkeeping: no run row, no ledger rows, no cache, no PII vault, no policy lookup (the default
 * policy), no metrics. What Keel does beyond this is what issue 15 calls bookkeeping.
 */
export function createBaselineActivities(deps: Pick<ActivityDeps, 'db' | 'llm' | 'prices' | 'promptsDir' | 'embeddingModel' | 'retrievalTopK'>) {
  const retrieval = { ...deps, embeddingModel: deps.embeddingModel, topK: deps.retrievalTopK ?? 5 };
  return {
    async guardInput(input: { question: string }): Promise<{ text: string; blocked: number; enclosure: PromptEnclosure }> {
      const check = checkInput(input.question, DEFAULT_POLICY);
      return { text: check.text, blocked: check.blocked.length, enclosure: newEnclosure() };
    },

    async retrieveContext(input: { tenantId: string; query: string }): Promise<ContextChunk[]> {
      return retrieve(retrieval, scratch(), input);
    },

    async screenContext(input: { chunks: ContextChunk[] }): Promise<{ keep: string[] }> {
      return { keep: input.chunks.filter((c) => !screenText(c.text, DEFAULT_POLICY).flagged).map((c) => c.chunkId) };
    },

    async generate(input: { question: string; context: ContextChunk[]; options: ModelOptions; enclosure: PromptEnclosure }): Promise<AnswerResult> {
      return answerCall(deps, scratch(), { runId: '', tenantId: '', ...input });
    },

    async guardOutput(input: { answer: string; context: string[]; enclosure: PromptEnclosure }): Promise<{ text: string; blocked: number }> {
      const check = checkOutput(input.answer, DEFAULT_POLICY, { canary: input.enclosure.canary, context: input.context, entries: [], retried: false });
      return { text: check.text, blocked: check.blocked.length };
    },
  };
}

export type BaselineActivities = ReturnType<typeof createBaselineActivities>;
