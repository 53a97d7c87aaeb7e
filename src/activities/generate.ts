import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type OpenAI from 'openai';
import { toModelFailure } from '../llm/errors';
import { estimateCostUsd, type PriceTable } from '../llm/pricing';
import { buildAnswerMessages } from '../llm/prompt';
import type { AnswerResult, ModelOptions } from '../shared';
import type { Db } from '../db/client';
import { recordModelUsage, type KeelMetrics } from '../metrics/metrics';
import { withLedger } from './ledger';

export interface GenerateDeps {
  db: Db;
  llm: OpenAI;
  prices: PriceTable;
  heartbeatIntervalMs?: number;
  metrics?: KeelMetrics;
}

export interface GenerateInput {
  runId: string;
  tenantId: string;
  question: string;
  options: ModelOptions;
}

export function createGenerateActivities(deps: GenerateDeps) {
  return {
    /**
     * One model call. Heartbeats while waiting so a cancelled run aborts the HTTP request,
     * and a dead worker is noticed within the heartbeat timeout.
     */
    async generate(input: GenerateInput): Promise<AnswerResult> {
      return withLedger(deps.db, { runId: input.runId, tenantId: input.tenantId, step: 'generate' }, async (entry) => {
        const ctx = Context.current();
        entry.usage.model = input.options.model;
        const beat = setInterval(() => ctx.heartbeat(), deps.heartbeatIntervalMs ?? 1000);
        try {
          const completion = await deps.llm.chat.completions.create(
            {
              model: input.options.model,
              messages: buildAnswerMessages(input.question),
              temperature: input.options.temperature,
              top_p: input.options.top_p,
              max_tokens: input.options.max_tokens,
            },
            { signal: ctx.cancellationSignal },
          );
          const usage = completion.usage;
          const tokensIn = usage?.prompt_tokens ?? 0;
          const tokensOut = usage?.completion_tokens ?? 0;
          entry.usage = {
            model: completion.model,
            tokensIn,
            tokensOut,
            costUsd: estimateCostUsd(deps.prices, completion.model, tokensIn, tokensOut),
          };
          recordModelUsage(deps.metrics, deps.prices, entry.usage);
          const choice = completion.choices[0];
          if (!choice || typeof choice.message.content !== 'string') {
            throw ApplicationFailure.retryable('Model returned no answer', 'ModelEmptyResponse');
          }
          return {
            answer: choice.message.content,
            model: completion.model,
            finishReason: choice.finish_reason,
            usage: { promptTokens: tokensIn, completionTokens: tokensOut },
          };
        } catch (err) {
          // A cancelled run aborts the request; report the cancellation itself, not the abort error.
          if (ctx.cancellationSignal.aborted) throw ctx.cancellationSignal.reason;
          throw toModelFailure(err);
        } finally {
          clearInterval(beat);
        }
      });
    },
  };
}
