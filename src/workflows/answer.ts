import { ActivityFailure, ApplicationFailure, CancellationScope, condition, isCancellation, patched, proxyActivities, setHandler } from '@temporalio/workflow';
import type { Activities } from '../activities';
import {
  FailureType,
  ResumeRejection,
  resumeRunUpdate,
  type AnswerResult,
  type AnswerWorkflowInput,
  type ResumeRequest,
} from '../shared';
import { alert, cacheCall, dbWrite, guardrail, llmCall } from './profiles';
import { failureSummary, recordRunFailure, trackRun } from './run-steps';
import { produceAnswer } from './strategies';

// Summaries name each step in the Temporal Web UI's event history.
const db = proxyActivities<Activities>({ ...dbWrite, summary: 'Record the run status' });
const checks = proxyActivities<Activities>({ ...guardrail, summary: 'Sanitize the question' });
const llm = proxyActivities<Activities>({ ...llmCall, summary: 'Ask the model' });
const store = proxyActivities<Activities>({ ...dbWrite, summary: 'Store the answer' });
const alerts = proxyActivities<Activities>({ ...alert, summary: 'Tell an operator the run is paused' });
const cache = proxyActivities<Activities>({ ...cacheCall, summary: 'Look up or fill the result cache' });


/** Answer a question: sanitize the input, ask the model, store the result. */
export async function answer(input: AnswerWorkflowInput): Promise<AnswerResult> {
  const { runId, tenantId } = input;
  const pauseOnFailure = input.onFailure === 'pause';
  const run = trackRun();
  const { progress, setStatus } = run;

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

  let lookup: Awaited<ReturnType<Activities['cacheLookup']>> | undefined;
  setStatus('running');
  try {
    await db.markRunRunning({ runId, tenantId });
    const sanitized = await step('sanitizeInput', () => checks.sanitizeInput({ runId, tenantId, text: input.question }));
    if (sanitized.text.length === 0) {
      throw ApplicationFailure.nonRetryable('The question is empty after sanitizing', 'InvalidInput');
    }
    // Runs recorded before the cache existed replay without it (test/fixtures/histories).
    if (patched('answer-cache')) {
      const question = sanitized.text;
      lookup = await step('cacheLookup', () => cache.cacheLookup({ runId, tenantId, question, options: input.options, control: input.cache }));
      const hit = lookup.hit;
      if (hit) {
        const info = { kind: hit.kind, originalRunId: hit.originalRunId, ageSeconds: hit.ageSeconds, ...(hit.similarity !== undefined ? { similarity: hit.similarity } : {}) };
        const cached = { ...hit.result, cache: info };
        await step('storeResult', () => store.storeResult({ runId, tenantId, result: cached, model: cached.model, cache: info }));
        setStatus('completed');
        return cached;
      }
    }
    // Runs recorded before retrieval existed replay without it (test/fixtures/histories).
    const context = patched('answer-retrieval')
      ? await step('retrieveContext', () => llm.retrieveContext({ runId, tenantId, query: sanitized.text }))
      : [];
    const result = await produceAnswer({ runId, tenantId, question: sanitized.text, context, options: input.options }, step);
    const ticket = lookup?.ticket;
    // Only a run that produced its answer gets here: failed, cancelled and blocked runs are never
    // cached. Stored before the run turns `completed`, so a client that saw it complete and asks
    // again is answered from the cache.
    if (ticket) {
      try {
        await cache.cacheStore({ runId, tenantId, question: sanitized.text, ticket, result });
      } catch (storeErr) {
        // The answer stands whether or not the cache kept it.
        if (isCancellation(storeErr)) throw storeErr;
      }
    }
    await step('storeResult', () => store.storeResult({ runId, tenantId, result, model: result.model }));
    setStatus('completed');
    return result;
  } catch (err) {
    const ticket = lookup?.ticket;
    if (ticket?.leader) {
      await CancellationScope.nonCancellable(() => cache.cacheRelease({ runId, ticket }));
    }
    await recordRunFailure(err, run, (status, error) => db.markRunFinished({ runId, tenantId, status, error }));
    throw err;
  }
}
