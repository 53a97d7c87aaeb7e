import type { AnswerResult } from '../src/shared';

/**
 * The baseline's activities: the same names and payload shapes as the answer workflow's, with
 * no I/O, so the baseline costs exactly what Temporal and the SDK cost for four activities.
 */
export const baselineActivities = {
  async markRunRunning(_input: { runId: string }): Promise<void> {},

  async sanitizeInput(input: { runId: string; text: string }): Promise<{ text: string; removedCharacters: number }> {
    return { text: input.text, removedCharacters: 0 };
  },

  async generate(input: { runId: string; question: string }): Promise<AnswerResult> {
    return {
      answer: input.question,
      model: 'baseline',
      finishReason: 'stop',
      usage: { promptTokens: 0, completionTokens: 0 },
    };
  },

  async storeResult(_input: { runId: string; result: AnswerResult }): Promise<void> {},
};

export type BaselineActivities = typeof baselineActivities;
