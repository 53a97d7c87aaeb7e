import { randomUUID } from 'node:crypto';
import type { Completion } from './completion';

/**
 * The OpenAI response objects, as the SDK expects them on the wire. Ids and `created` are
 * the only parts that are not a function of the request.
 */

export const OFFLINE_MODELS = [
  { id: 'keel-offline-1', object: 'model', created: 1_704_067_200, owned_by: 'keel' },
  { id: 'keel-offline-embed-1', object: 'model', created: 1_704_067_200, owned_by: 'keel' },
  { id: 'multilingual-e5-small', object: 'model', created: 1_704_067_200, owned_by: 'intfloat' },
] as const;

export function completionId(): string {
  return `chatcmpl-${randomUUID().replaceAll('-', '')}`;
}

export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

export function chatCompletion(completion: Completion, model: string) {
  return {
    id: completionId(),
    object: 'chat.completion' as const,
    created: nowSeconds(),
    model,
    system_fingerprint: 'keel-offline',
    choices: completion.choices.map((choice, index) => ({
      index,
      message: { role: 'assistant' as const, content: choice.content, refusal: null },
      logprobs: null,
      finish_reason: choice.finishReason,
    })),
    usage: usage(completion),
  };
}

/**
 * The same completion as `chat.completion.chunk` events: a role delta, the content a few
 * words at a time, a finish reason per choice, and usage last if the caller asked for it.
 */
export function chatCompletionChunks(completion: Completion, model: string, includeUsage: boolean): object[] {
  const base = { id: completionId(), object: 'chat.completion.chunk' as const, created: nowSeconds(), model, system_fingerprint: 'keel-offline' };
  const chunk = (choices: object[], extra: object = {}) => ({ ...base, choices, ...extra });
  const events: object[] = [];
  completion.choices.forEach((choice, index) => {
    events.push(chunk([{ index, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }]));
    for (const piece of choice.content.match(/(?:\S+\s*){1,4}|\s+/g) ?? []) {
      events.push(chunk([{ index, delta: { content: piece }, logprobs: null, finish_reason: null }]));
    }
    events.push(chunk([{ index, delta: {}, logprobs: null, finish_reason: choice.finishReason }]));
  });
  if (includeUsage) events.push(chunk([], { usage: usage(completion) }));
  return events;
}

function usage(completion: Completion) {
  return {
    prompt_tokens: completion.promptTokens,
    completion_tokens: completion.completionTokens,
    total_tokens: completion.promptTokens + completion.completionTokens,
  };
}

export function embeddingList(embeddings: readonly (number[] | string)[], model: string, promptTokens: number) {
  return {
    object: 'list' as const,
    data: embeddings.map((embedding, index) => ({ object: 'embedding' as const, index, embedding })),
    model,
    usage: { prompt_tokens: promptTokens, total_tokens: promptTokens },
  };
}
