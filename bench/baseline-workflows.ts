import { proxyActivities } from '@temporalio/workflow';
import { guardrail, llmCall } from '../src/workflows/profiles';
import type { AnswerResult, ModelOptions } from '../src/shared';
import type { BaselineActivities } from './baseline-activities';

/**
 * The bare workflow the answer workflow is measured against (issue 15): the same guardrail,
 * retrieval and model activities in the same order, with the same profiles (timeouts, retries)
 * and queues (retrieval and the model call on a second task queue, as on keel-llm). No query
 * handler, no search attributes, no memo, no run row, no ledger, no cache: what remains is the
 * cost of Temporal plus the AI work itself.
 */
export const BaselineQueue = {
  workflows: 'bench-baseline',
  llm: 'bench-baseline-llm',
} as const;

const checks = proxyActivities<BaselineActivities>(guardrail);
const llm = proxyActivities<BaselineActivities>({ ...llmCall, taskQueue: BaselineQueue.llm });

export async function baseline(input: { tenantId: string; question: string; options: ModelOptions }): Promise<AnswerResult> {
  const guarded = await checks.guardInput({ question: input.question });
  let context = await llm.retrieveContext({ tenantId: input.tenantId, query: guarded.text });
  if (context.length > 0) {
    const { keep } = await checks.screenContext({ chunks: context });
    context = context.filter((c) => keep.includes(c.chunkId));
  }
  const result = await llm.generate({ question: guarded.text, context, options: input.options, enclosure: guarded.enclosure });
  const checked = await checks.guardOutput({ answer: result.answer, context: context.map((c) => c.text), enclosure: guarded.enclosure });
  return { ...result, answer: checked.text };
}
