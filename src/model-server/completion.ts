import { answerQuestion, judgeScore } from './answer';
import { answerFieldValues } from './answer-fields';
import { instanceForSchema } from './json-schema';
import { readPrompt, type KeelPrompt } from './prompt';
import type { ChatCompletionRequest } from './schemas';
import { approxTokens } from './text';

/**
 * What the offline model says to a chat request, before it is dressed as a JSON response or
 * an event stream. A pure function of the request: same request, same choices, same usage.
 */

export interface CompletionChoice {
  readonly content: string;
  readonly finishReason: 'stop' | 'length';
}

export interface Completion {
  readonly choices: readonly CompletionChoice[];
  readonly promptTokens: number;
  readonly completionTokens: number;
}

export function complete(request: ChatCompletionRequest): Completion {
  const prompt = readPrompt(request.messages);
  const n = request.n ?? 1;
  const choices = Array.from({ length: n }, (_, index) =>
    // At temperature 0 a real model repeats itself; above it, choices differ.
    limit(content(request, prompt, request.temperature === 0 ? 0 : index), request),
  );
  return {
    choices,
    promptTokens: approxTokens(prompt.promptText),
    completionTokens: choices.reduce((sum, c) => sum + approxTokens(c.content), 0),
  };
}

function content(request: ChatCompletionRequest, prompt: KeelPrompt, variant: number): string {
  const answer = answerQuestion(prompt, { variant, topP: request.top_p ?? 1 });
  const score = prompt.scoreCandidate === undefined ? undefined : judgeScore(prompt.scoreCandidate);
  const format = request.response_format;

  if (format?.type === 'json_schema' && format.json_schema.schema !== undefined) {
    return JSON.stringify(instanceForSchema(format.json_schema.schema, answerFieldValues(prompt, answer)));
  }
  if (format?.type === 'json_object' || format?.type === 'json_schema') {
    return JSON.stringify(score === undefined ? { answer: answer.text, citations: answer.citations } : { score });
  }
  return score === undefined ? answer.text : String(score);
}

/** Applies stop sequences, then the token budget, the way the API reports each. */
function limit(text: string, request: ChatCompletionRequest): CompletionChoice {
  const stops = typeof request.stop === 'string' ? [request.stop] : (request.stop ?? []);
  const cut = Math.min(...stops.filter(Boolean).map((s) => text.indexOf(s)).filter((i) => i >= 0), text.length);
  const stopped = text.slice(0, cut);

  const budget = request.max_completion_tokens ?? request.max_tokens;
  if (budget === undefined || budget === null || approxTokens(stopped) <= budget) {
    return { content: stopped, finishReason: 'stop' };
  }
  return { content: stopped.slice(0, budget * 4), finishReason: 'length' };
}
