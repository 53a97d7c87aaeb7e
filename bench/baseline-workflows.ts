import { proxyActivities } from '@temporalio/workflow';
import { dbWrite, guardrail, llmCall } from '../src/workflows/profiles';
import type { AnswerResult } from '../src/shared';
import type { BaselineActivities } from './baseline-activities';

/**
 * The bare workflow the answer workflow is measured against: four activities in the same
 * order, with the same profiles (timeouts, retry policies), the third one on a second task
 * queue as `generate` is on keel-llm. No query handler, no search attributes, no database:
 * what remains is the cost of Temporal itself.
 */
export const BaselineQueue = {
  workflows: 'bench-baseline',
  llm: 'bench-baseline-llm',
} as const;

const db = proxyActivities<BaselineActivities>(dbWrite);
const checks = proxyActivities<BaselineActivities>(guardrail);
const llm = proxyActivities<BaselineActivities>({ ...llmCall, taskQueue: BaselineQueue.llm });

export async function baseline(input: { runId: string; question: string }): Promise<AnswerResult> {
  const { runId } = input;
  await db.markRunRunning({ runId });
  const sanitized = await checks.sanitizeInput({ runId, text: input.question });
  const result = await llm.generate({ runId, question: sanitized.text });
  await db.storeResult({ runId, result });
  return result;
}
