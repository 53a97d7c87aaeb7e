import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  condition,
  isCancellation,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import {
  FailureType,
  ResumeRejection,
  resumeRunUpdate,
  runProgressQuery,
  SearchAttr,
  type AnswerResult,
  type AnswerWorkflowInput,
  type ResumeRequest,
  type RunProgress,
  type RunStatus,
} from '../shared';
import { alert, dbWrite, guardrail, llmCall } from './profiles';

// Summaries name each step in the Temporal Web UI's event history.
const db = proxyActivities<Activities>({ ...dbWrite, summary: 'Record the run status' });
const checks = proxyActivities<Activities>({ ...guardrail, summary: 'Sanitize the question' });
const llm = proxyActivities<Activities>({ ...llmCall, summary: 'Ask the model' });
const store = proxyActivities<Activities>({ ...dbWrite, summary: 'Store the answer' });
const alerts = proxyActivities<Activities>({ ...alert, summary: 'Tell an operator the run is paused' });

function failureSummary(err: unknown, step: string | null): { type: string; message: string; step?: string } {
  const cause = err instanceof Error && err.cause instanceof Error ? err.cause : err;
  const type = cause instanceof ApplicationFailure && cause.type ? cause.type : cause instanceof Error ? cause.name : 'Error';
  const message = cause instanceof Error ? cause.message : String(cause);
  return { type, message, ...(step ? { step } : {}) };
}

/** Answer a question: sanitize the input, ask the model, store the result. */
export async function answer(input: AnswerWorkflowInput): Promise<AnswerResult> {
  const { runId, tenantId } = input;
  const pauseOnFailure = input.onFailure === 'pause';
  const progress: RunProgress = { status: 'running', step: null, completedSteps: [] };
  setHandler(runProgressQuery, () => progress);

  let paused: { step: string; optional: boolean } | undefined;
  let decision: ResumeRequest | undefined;
  setHandler(
    resumeRunUpdate,
    (request) => {
      decision = request;
      return { accepted: true, action: request.action, step: paused?.step ?? '' };
    },
    {
      validator: (request: ResumeRequest) => {
        if (!paused || decision) throw ApplicationFailure.nonRetryable('The run is not waiting for an operator', ResumeRejection.notPaused);
        if (request.action === 'skip' && !paused.optional) {
          throw ApplicationFailure.nonRetryable(`Step ${paused.step} is not optional; retry or abort it`, ResumeRejection.stepNotOptional);
        }
      },
    },
  );

  const setStatus = (status: RunStatus) => {
    progress.status = status;
    upsertSearchAttributes([{ key: SearchAttr.status, value: status }]);
  };

  /** Parks the run until an operator decides; no timer runs, so a paused run costs nothing. */
  const waitForOperator = async (name: string, optional: boolean, err: ActivityFailure): Promise<ResumeRequest> => {
    const error = failureSummary(err, name);
    paused = { step: name, optional };
    setStatus('needs_attention');
    await db.markRunNeedsAttention({ runId, tenantId, error });
    try {
      await alerts.notifyOperator({ runId, tenantId, step: name, error });
    } catch (alertErr) {
      // The pause stands even when nobody could be told; the UI filter still finds the run.
      if (isCancellation(alertErr)) throw alertErr;
    }
    await condition(() => decision !== undefined);
    const chosen = decision as ResumeRequest;
    decision = undefined;
    paused = undefined;
    if (chosen.action !== 'abort') {
      setStatus('running');
      await db.markRunResumed({ runId, tenantId });
    }
    return chosen;
  };

  const step = async <T>(name: string, fn: () => Promise<T>, skipped?: () => T): Promise<T> => {
    progress.step = name;
    for (;;) {
      try {
        const result = await fn();
        progress.completedSteps.push(name);
        progress.step = null;
        return result;
      } catch (err) {
        if (!pauseOnFailure || !(err instanceof ActivityFailure) || isCancellation(err)) throw err;
        const chosen = await waitForOperator(name, skipped !== undefined, err);
        if (chosen.action === 'retry') continue;
        if (chosen.action === 'skip' && skipped) {
          progress.step = null;
          return skipped();
        }
        throw ApplicationFailure.nonRetryable(`Aborted by operator: ${chosen.reason}`, FailureType.operatorAborted);
      }
    }
  };

  setStatus('running');
  try {
    await db.markRunRunning({ runId, tenantId });
    const sanitized = await step('sanitizeInput', () => checks.sanitizeInput({ runId, tenantId, text: input.question }));
    if (sanitized.text.length === 0) {
      throw ApplicationFailure.nonRetryable('The question is empty after sanitizing', 'InvalidInput');
    }
    const result = await step('generate', () =>
      llm.generate({ runId, tenantId, question: sanitized.text, options: input.options }),
    );
    await step('storeResult', () => store.storeResult({ runId, tenantId, result, model: result.model }));
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
