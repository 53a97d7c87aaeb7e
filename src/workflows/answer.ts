import { ActivityFailure, ApplicationFailure, condition, isCancellation, patched, proxyActivities, setHandler } from '@temporalio/workflow';
import type { Activities } from '../activities';
import {
  FailureType,
  ResumeRejection,
  resumeRunUpdate,
  type AnswerResult,
  type AnswerWorkflowInput,
  type ContextChunk,
  type GuardrailTrace,
  type ResumeRequest,
} from '../shared';
import { alert, dbWrite, guardrail, llmCall } from './profiles';
import { failureSummary, recordRunFailure, trackRun } from './run-steps';
import { produceAnswer } from './strategies';

// Summaries name each step in the Temporal Web UI's event history.
const db = proxyActivities<Activities>({ ...dbWrite, summary: 'Record the run status' });
const checks = proxyActivities<Activities>({ ...guardrail, summary: 'Sanitize the question' });
const inputGuard = proxyActivities<Activities>({ ...guardrail, summary: 'Input guardrails: limits, injection, PII masking' });
const contextGuard = proxyActivities<Activities>({ ...guardrail, summary: 'Context guardrails: drop chunks carrying injections' });
const outputGuard = proxyActivities<Activities>({ ...guardrail, summary: 'Output guardrails: canary, leaks, safety, brand, groundedness' });
const llm = proxyActivities<Activities>({ ...llmCall, summary: 'Ask the model' });
const store = proxyActivities<Activities>({ ...dbWrite, summary: 'Store the answer' });
const alerts = proxyActivities<Activities>({ ...alert, summary: 'Tell an operator the run is paused' });


/** Answer a question: input guardrails, retrieval (screened), the model, output guardrails, store the result. */
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

  /** Ends the run `blocked`: the reasons name layers and rules, never the text that tripped them. */
  const block = async (stepName: string, reasons: unknown[]): Promise<never> => {
    setStatus('blocked');
    const error = { type: FailureType.guardrailBlocked, message: 'Blocked by guardrails', step: stepName, reasons };
    await db.markRunFinished({ runId, tenantId, status: 'blocked', error });
    throw ApplicationFailure.nonRetryable(error.message, FailureType.guardrailBlocked, { reasons });
  };

  setStatus('running');
  try {
    await db.markRunRunning({ runId, tenantId });
    // Guardrails (src/guardrails): runs recorded before them replay the sanitize-only path.
    const guarded = patched('guardrails-v1');
    let question: string;
    let guard: Awaited<ReturnType<Activities['guardInput']>> | undefined;
    if (guarded) {
      guard = await step('guardInput', () => inputGuard.guardInput({ runId, tenantId, ...(input.callerKeyId ? { callerKeyId: input.callerKeyId } : {}) }));
      if (guard.blocked.length > 0) await block('guardInput', guard.blocked);
      question = guard.text;
    } else {
      question = (await step('sanitizeInput', () => checks.sanitizeInput({ runId, tenantId, text: input.question }))).text;
    }
    if (question.length === 0) {
      throw ApplicationFailure.nonRetryable('The question is empty after sanitizing', 'InvalidInput');
    }
    // Runs recorded before retrieval existed replay without it (test/fixtures/histories).
    let context: ContextChunk[] = patched('answer-retrieval')
      ? await step('retrieveContext', () => llm.retrieveContext({ runId, tenantId, query: question }))
      : [];
    const trace: GuardrailTrace | undefined = guard ? { policyVersion: guard.policy.policyVersion, decisions: [...guard.decisions] } : undefined;
    if (guard && trace && context.length > 0) {
      const chunks = context;
      const screened = await step('screenContext', () => contextGuard.screenContext({ runId, tenantId, chunks, policy: guard.policy }));
      context = context.filter((c) => screened.keep.includes(c.chunkId));
      trace.decisions.push(...screened.decisions);
      if (screened.dropped.length > 0) trace.droppedChunks = screened.dropped;
    }
    const enclosure = guard?.enclosure;
    let result = await produceAnswer({ runId, tenantId, question, context, options: input.options, ...(enclosure ? { enclosure } : {}) }, step);
    if (guard && trace && enclosure) {
      const texts = context.map((c) => c.text);
      const checkAnswer = (answer: string, retried: boolean, name: string) =>
        step(name, () => outputGuard.guardOutput({ runId, tenantId, answer, context: texts, policy: guard.policy, enclosure, retried }));
      let checked = await checkAnswer(result.answer, false, 'guardOutput');
      trace.decisions.push(...checked.decisions);
      if (checked.regenerate) {
        const hint = `Earlier statements ${checked.unsupportedClaims.map((i) => i + 1).join(', ')} were not supported by the documents. Answer again using only what the documents state, and cite every sentence.`;
        result = { ...(await step('regenerate', () => llm.generate({ runId, tenantId, question, context, options: input.options, enclosure, hint }))), retrieved: result.retrieved };
        checked = await checkAnswer(result.answer, true, 'guardOutput#2');
        trace.decisions.push(...checked.decisions);
        trace.regenerated = true;
      }
      if (checked.blocked.length > 0) await block('guardOutput', checked.blocked);
      result = { ...result, answer: checked.text, guardrails: trace };
    }
    const final = result;
    await step('storeResult', () => store.storeResult({ runId, tenantId, result: final, model: final.model }));
    setStatus('completed');
    return final;
  } catch (err) {
    // A blocked run has recorded its own end.
    if (!(err instanceof ApplicationFailure && err.type === FailureType.guardrailBlocked)) {
      await recordRunFailure(err, run, (status, error) => db.markRunFinished({ runId, tenantId, status, error }));
    }
    throw err;
  }
}
