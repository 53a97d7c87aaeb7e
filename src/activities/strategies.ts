import type { Db } from '../db/client';
import { buildAnswerMessages, buildCritiqueMessages, buildJudgeMessages, buildReviseMessages } from '../llm/prompt';
import type { AnswerResult, ContextChunk, ModelOptions, PromptEnclosure } from '../shared';
import { citationsIn } from './generate';
import { withLedger } from './ledger';
import { chatCall, modelParams, promptSource, type ModelCallDeps } from './model-call';

export interface StrategyDeps extends ModelCallDeps {
  db: Db;
}

interface Base {
  runId: string;
  tenantId: string;
  question: string;
  context: ContextChunk[];
  options: ModelOptions;
  enclosure?: PromptEnclosure;
}

/** Candidates differ by prompt as well as temperature, so even a greedy model gives n different answers. */
const CANDIDATE_HINTS = [
  '',
  'Lead with the single most relevant fact.',
  'Prefer the most specific passage over general ones.',
  'Quote the passage that answers most directly.',
  'Be as brief as possible.',
];

export function parseScore(text: string): number | undefined {
  const m = /\b(10|[1-9])\b/.exec(text);
  return m ? Number(m[1]) : undefined;
}

const CRITIQUE_FORMAT = {
  type: 'json_schema' as const,
  json_schema: {
    name: 'critique',
    strict: true,
    schema: {
      type: 'object',
      properties: { score: { type: 'integer', minimum: 1, maximum: 10 }, critique: { type: 'string' } },
      required: ['score', 'critique'],
      additionalProperties: false,
    },
  },
};

export function createStrategyActivities(deps: StrategyDeps) {
  const ledger = <T>(input: { runId: string; tenantId: string }, step: string, fn: Parameters<typeof withLedger<T>>[2]) =>
    withLedger(deps.db, { runId: input.runId, tenantId: input.tenantId, step }, fn);

  return {
    /** One best-of-n candidate; `index` picks its prompt variation. */
    async generateCandidate(input: Base & { index: number }): Promise<AnswerResult> {
      return ledger(input, 'generateCandidate', async (entry) => {
        const hint = CANDIDATE_HINTS[input.index % CANDIDATE_HINTS.length];
        const reply = await chatCall(deps, entry, buildAnswerMessages(input.question, input.context, hint, promptSource(deps, input.options, input.enclosure)), modelParams(input.options));
        return { answer: reply.content, model: reply.model, finishReason: reply.finishReason, usage: reply.usage, citations: citationsIn(reply.content, input.context) };
      });
    },

    /**
     * The judge: scores every candidate against the rubric, one call per candidate (pointwise
     * grading does not favour the first or last of a list). One activity, so the judgement is
     * one ledger step; at temperature 0, a retry scores the same.
     */
    async judgeCandidates(input: Omit<Base, 'options'> & { candidates: string[]; options: ModelOptions }): Promise<{ scores: number[] }> {
      return ledger(input, 'judgeCandidates', async (entry) => {
        const scores = await Promise.all(
          input.candidates.map(async (candidate) => {
            const reply = await chatCall(deps, entry, buildJudgeMessages(input.question, candidate, input.context, promptSource(deps, input.options, input.enclosure)), {
              model: input.options.model,
              temperature: 0,
              max_tokens: 8,
            });
            // An unreadable grade is the lowest grade: it must not win by accident.
            return parseScore(reply.content) ?? 1;
          }),
        );
        return { scores };
      });
    },

    async critiqueDraft(input: Base & { draft: string; round: number }): Promise<{ score: number; critique: string }> {
      return ledger(input, 'critiqueDraft', async (entry) => {
        const reply = await chatCall(deps, entry, buildCritiqueMessages(input.question, input.draft, input.context, promptSource(deps, input.options, input.enclosure)), { model: input.options.model, temperature: 0 }, { response_format: CRITIQUE_FORMAT });
        try {
          const parsed = JSON.parse(reply.content) as { score?: unknown; critique?: unknown };
          const score = typeof parsed.score === 'number' ? Math.max(1, Math.min(10, Math.round(parsed.score))) : 1;
          return { score, critique: typeof parsed.critique === 'string' ? parsed.critique : '' };
        } catch {
          return { score: parseScore(reply.content) ?? 1, critique: reply.content };
        }
      });
    },

    async reviseDraft(input: Base & { draft: string; critique: string; round: number }): Promise<AnswerResult> {
      return ledger(input, 'reviseDraft', async (entry) => {
        const reply = await chatCall(deps, entry, buildReviseMessages(input.question, input.draft, input.critique, input.context, promptSource(deps, input.options, input.enclosure)), modelParams(input.options));
        return { answer: reply.content, model: reply.model, finishReason: reply.finishReason, usage: reply.usage, citations: citationsIn(reply.content, input.context) };
      });
    },
  };
}
