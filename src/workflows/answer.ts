import { ApplicationFailure, patched } from '@temporalio/workflow';
import type { AnswerResult, AnswerWorkflowInput } from '../shared';
import { keelActivities } from './profiles';
import { recordRunFailure, trackRun } from './run-steps';
import { produceAnswer } from './strategies';

const act = keelActivities();

/** Answer a question: sanitize the input, retrieve context, ask the model, store the result. */
export async function answer(input: AnswerWorkflowInput): Promise<AnswerResult> {
  const { runId, tenantId } = input;
  const run = trackRun(input);
  const { setStatus, step } = run;

  setStatus('running');
  try {
    await act.markRunRunning({ runId, tenantId });
    const sanitized = await step('sanitizeInput', () => act.sanitizeInput({ runId, tenantId, text: input.question }));
    if (sanitized.text.length === 0) {
      throw ApplicationFailure.nonRetryable('The question is empty after sanitizing', 'InvalidInput');
    }
    // Runs recorded before retrieval existed replay without it (test/fixtures/histories).
    const context = patched('answer-retrieval')
      ? await step('retrieveContext', () => act.retrieveContext({ runId, tenantId, query: sanitized.text }))
      : [];
    const result = await produceAnswer({ runId, tenantId, question: sanitized.text, context, options: input.options }, step);
    await step('storeResult', () => act.storeResult({ runId, tenantId, result, model: result.model }));
    setStatus('completed');
    return result;
  } catch (err) {
    await recordRunFailure(err, run, (status, error) => act.markRunFinished({ runId, tenantId, status, error }));
    throw err;
  }
}
