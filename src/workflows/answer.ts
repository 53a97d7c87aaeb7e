import {
  ApplicationFailure,
  CancellationScope,
  isCancellation,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import {
  runProgressQuery,
  SearchAttr,
  type AnswerResult,
  type AnswerWorkflowInput,
  type RunProgress,
  type RunStatus,
} from '../shared';
import { dbWrite, guardrail, llmCall } from './profiles';
import { produceAnswer } from './strategies';

const db = proxyActivities<Activities>(dbWrite);
const checks = proxyActivities<Activities>(guardrail);
const llm = proxyActivities<Activities>(llmCall);

function failureSummary(err: unknown, step: string | null): { type: string; message: string; step?: string } {
  const cause = err instanceof Error && err.cause instanceof Error ? err.cause : err;
  const type = cause instanceof ApplicationFailure && cause.type ? cause.type : cause instanceof Error ? cause.name : 'Error';
  const message = cause instanceof Error ? cause.message : String(cause);
  return { type, message, ...(step ? { step } : {}) };
}

/** Answer a question: sanitize the input, ask the model, store the result. */
export async function answer(input: AnswerWorkflowInput): Promise<AnswerResult> {
  const { runId, tenantId } = input;
  const progress: RunProgress = { status: 'running', step: null, completedSteps: [] };
  setHandler(runProgressQuery, () => progress);

  const setStatus = (status: RunStatus) => {
    progress.status = status;
    upsertSearchAttributes([{ key: SearchAttr.status, value: status }]);
  };
  const step = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    progress.step = name;
    const result = await fn();
    progress.completedSteps.push(name);
    progress.step = null;
    return result;
  };

  setStatus('running');
  try {
    await db.markRunRunning({ runId, tenantId });
    const sanitized = await step('sanitizeInput', () => checks.sanitizeInput({ runId, tenantId, text: input.question }));
    if (sanitized.text.length === 0) {
      throw ApplicationFailure.nonRetryable('The question is empty after sanitizing', 'InvalidInput');
    }
    const context = await step('retrieveContext', () => llm.retrieveContext({ runId, tenantId, query: sanitized.text }));
    const result = await produceAnswer({ runId, tenantId, question: sanitized.text, context, options: input.options }, step);
    await step('storeResult', () => db.storeResult({ runId, tenantId, result, model: result.model }));
    setStatus('completed');
    return result;
  } catch (err) {
    const failedStep = progress.step;
    const status: RunStatus = isCancellation(err) ? 'cancelled' : 'failed';
    // Recording the outcome must survive the cancellation that caused it.
    await CancellationScope.nonCancellable(async () => {
      setStatus(status);
      await db.markRunFinished({ runId, tenantId, status, error: failureSummary(err, failedStep) });
    });
    throw err;
  }
}
