import type { Db } from '../db/client';
import { buildAnswerMessages } from '../llm/prompt';
import type { AnswerResult, ContextChunk, ModelOptions, PromptEnclosure } from '../shared';
import { withLedger } from './ledger';
import { chatCall, modelParams, promptSource, type ModelCallDeps } from './model-call';

export interface GenerateDeps extends ModelCallDeps {
  db: Db;
}

export interface GenerateInput {
  runId: string;
  tenantId: string;
  question: string;
  context?: ContextChunk[];
  options: ModelOptions;
  /** The run's random tag boundary and canary (guardrails); absent in older runs. */
  enclosure?: PromptEnclosure;
  /** Extra instruction for the system prompt, e.g. the guardrails' feedback on a regeneration. */
  hint?: string;
}

/** Chunk ids the answer cites with `[id]` that were really in its context, in order of first use. */
export function citationsIn(text: string, context: readonly ContextChunk[]): AnswerResult['citations'] {
  const byId = new Map(context.map((c) => [c.chunkId, c]));
  const seen = new Set<string>();
  const out: NonNullable<AnswerResult['citations']> = [];
  for (const m of text.matchAll(/\[([0-9a-f-]{36})\]/gi)) {
    const chunk = byId.get(m[1]!);
    if (!chunk || seen.has(chunk.chunkId)) continue;
    seen.add(chunk.chunkId);
    out.push({ chunkId: chunk.chunkId, documentId: chunk.documentId, page: chunk.page });
  }
  return out;
}

export async function answerCall(deps: ModelCallDeps, entry: Parameters<typeof chatCall>[1], input: GenerateInput): Promise<AnswerResult> {
  const context = input.context ?? [];
  const reply = await chatCall(deps, entry, buildAnswerMessages(input.question, context, input.hint, promptSource(deps, input.options, input.enclosure)), modelParams(input.options));
  return {
    answer: reply.content,
    model: reply.model,
    finishReason: reply.finishReason,
    usage: reply.usage,
    citations: citationsIn(reply.content, context),
  };
}

export function createGenerateActivities(deps: GenerateDeps) {
  return {
    /** The answer to the question from the retrieved context: one model call. */
    async generate(input: GenerateInput): Promise<AnswerResult> {
      return withLedger(deps.db, { runId: input.runId, tenantId: input.tenantId, step: 'generate' }, (entry) => answerCall(deps, entry, input));
    },
  };
}
