import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type OpenAI from 'openai';
import type { ChatCompletionCreateParamsNonStreaming } from 'openai/resources/chat/completions';
import { toModelFailure } from '../llm/errors';
import { estimateCostUsd, type PriceTable } from '../llm/pricing';
import type { BuiltPrompt, PromptSource } from '../llm/prompt';
import { modelConfig } from '../llm/models';
import type { ModelOptions, PromptEnclosure } from '../shared';
import type { LedgerEntry } from './ledger';
import { recordModelUsage, type KeelMetrics } from '../metrics/metrics';

export interface ModelCallDeps {
  llm: OpenAI;
  prices: PriceTable;
  /** KEEL_PROMPTS_DIR: where prompt templates are read from (default `prompts/`). */
  promptsDir?: string;
  metrics?: KeelMetrics;
  heartbeatIntervalMs?: number;
}

export interface ChatReply {
  content: string;
  model: string;
  finishReason: string;
  usage: { promptTokens: number; completionTokens: number };
}

/**
 * One chat completion inside an activity: every model step (answer, candidate, judge,
 * critique, revision, extraction, repair) goes through here. It heartbeats while waiting, so
 * cancelling the run aborts the HTTP request and a dead worker is noticed within the
 * heartbeat timeout; it reports usage to the ledger entry as soon as the provider bills it;
 * and it turns provider errors into retry / don't-retry failures.
 */
export async function chatCall(
  deps: ModelCallDeps,
  entry: LedgerEntry,
  prompt: BuiltPrompt,
  options: ModelOptions,
  extra: Pick<ChatCompletionCreateParamsNonStreaming, 'response_format'> = {},
): Promise<ChatReply> {
  const ctx = Context.current();
  entry.usage.model = options.model;
  // What produced this attempt's output, for the run's trace (GET /v1/runs/:id/trace).
  const seen = new Set((entry.lineage.prompts ?? []).map((p) => `${p.id}@${p.variant}:${p.version}`));
  entry.lineage.prompts = [...(entry.lineage.prompts ?? []), ...prompt.prompts.filter((p) => !seen.has(`${p.id}@${p.variant}:${p.version}`))];
  entry.lineage.modelConfig = modelConfig(deps.llm.baseURL, deps.prices, options.model);
  entry.lineage.params = { temperature: options.temperature, top_p: options.top_p, max_tokens: options.max_tokens };
  const beat = setInterval(() => ctx.heartbeat(), deps.heartbeatIntervalMs ?? 1000);
  try {
    const completion = await deps.llm.chat.completions.create(
      {
        model: options.model,
        messages: prompt.messages,
        temperature: options.temperature,
        top_p: options.top_p,
        max_tokens: options.max_tokens,
        ...extra,
      },
      { signal: ctx.cancellationSignal },
    );
    const tokensIn = completion.usage?.prompt_tokens ?? 0;
    const tokensOut = completion.usage?.completion_tokens ?? 0;
    recordModelUsage(deps.metrics, deps.prices, {
      model: completion.model,
      tokensIn,
      tokensOut,
      costUsd: estimateCostUsd(deps.prices, completion.model, tokensIn, tokensOut),
    });
    entry.usage = {
      model: completion.model,
      tokensIn: (entry.usage.tokensIn ?? 0) + tokensIn,
      tokensOut: (entry.usage.tokensOut ?? 0) + tokensOut,
      costUsd: sumCost(entry.usage.costUsd, estimateCostUsd(deps.prices, completion.model, tokensIn, tokensOut)),
    };
    const choice = completion.choices[0];
    if (!choice || typeof choice.message.content !== 'string') {
      throw ApplicationFailure.retryable('Model returned no answer', 'ModelEmptyResponse');
    }
    return {
      content: choice.message.content,
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
}

function sumCost(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return Number((a + b).toFixed(6));
}

/** The parameters a chat call sends; strategy knobs stay in the workflow. */
export function modelParams(options: ModelOptions): ModelOptions {
  return { model: options.model, temperature: options.temperature, top_p: options.top_p, max_tokens: options.max_tokens };
}

/** The templates a model step builds its prompt from: the configured directory and the run's variants. */
export function promptSource(deps: Pick<ModelCallDeps, 'promptsDir'>, options: ModelOptions, enclosure?: PromptEnclosure): PromptSource {
  return { dir: deps.promptsDir, variants: options.prompts, ...(enclosure ? { enclosure } : {}) };
}
