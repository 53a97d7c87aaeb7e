import { ActivityFailure, ApplicationFailure, CancellationScope, condition, isCancellation, setHandler, upsertSearchAttributes } from '@temporalio/workflow';
import {
  FailureType,
  ResumeRejection,
  resumeRunUpdate,
  runProgressQuery,
  SearchAttr,
  type OnFailurePolicy,
  type ResumeRequest,
  type RunProgress,
  type RunStatus,
} from '../shared';
import { keelActivities } from './profiles';

const act = keelActivities();

export interface FailureSummary {
  type: string;
  message: string;
  step?: string;
  details?: unknown;
}

export function failureSummary(err: unknown, step: string | null): FailureSummary {
  const cause = err instanceof Error && err.cause instanceof Error ? err.cause : err;
  const type = cause instanceof ApplicationFailure && cause.type ? cause.type : cause instanceof Error ? cause.name : 'Error';
  const message = cause instanceof Error ? cause.message : String(cause);
  const details = cause instanceof ApplicationFailure && cause.details?.length ? cause.details[0] : undefined;
  return { type, message, ...(step ? { step } : {}), ...(details === undefined ? {} : { details }) };
}

/** A named step of a run; `skipped` makes it optional (an operator may skip it when it fails). */
export type Step = <T>(name: string, fn: () => Promise<T>, skipped?: () => T) => Promise<T>;

/**
 * What every Keel workflow shares: the progress query, the `KeelStatus` search attribute, and
 * named steps that, under `onFailure: "pause"`, park the run as `needs_attention` when a step runs
 * out of retries and wait for the `resumeRun` update (retry, skip an optional step, or abort).
 * Every run type registers the update, so a resume on a run that is not paused is refused by the
 * validator (the API's 409), never left unanswered.
 */
export function trackRun(run: { runId: string; tenantId: string; onFailure?: OnFailurePolicy }) {
  const { runId, tenantId } = run;
  const pauseOnFailure = run.onFailure === 'pause';
  const progress: RunProgress = { status: 'running', step: null, completedSteps: [] };
  setHandler(runProgressQuery, () => progress);
  const setStatus = (status: RunStatus) => {
    progress.status = status;
    upsertSearchAttributes([{ key: SearchAttr.status, value: status }]);
  };

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
        // Who and why go to the audit trail; an update from the Web UI or CLI must name both.
        if (typeof request?.actor !== 'string' || !request.actor.trim() || typeof request.reason !== 'string' || !request.reason.trim()) {
          throw ApplicationFailure.nonRetryable(
            'Name yourself and your reason: {"action": "retry" | "skip" | "abort", "reason": "…", "actor": "…"}',
            ResumeRejection.unidentified,
          );
        }
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
    await act.markRunNeedsAttention({ runId, tenantId, error });
    try {
      await act.notifyOperator({ runId, tenantId, step: name, error });
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
      await act.markRunResumed({ runId, tenantId });
    }
    return chosen;
  };

  /**
   * Without pause-on-failure (the default) a step is its work and one `then`, not an async function
   * and an await: the SDK captures a stack trace for every promise a workflow makes (its
   * `__stack_trace` query), about 0.18 ms of CPU each on a 2-core VM and a sixth of the workflow
   * thread's CPU in a bench profile (docs/lean-orchestration.md, session 8). A failure leaves
   * `progress.step` naming the step, as the loop below does.
   */
  const step: Step = (name, fn, skipped) => {
    progress.step = name;
    if (!pauseOnFailure) {
      return fn().then((result) => {
        progress.completedSteps.push(name);
        progress.step = null;
        return result;
      });
    }
    return stepPausingOnFailure(name, fn, skipped);
  };

  const stepPausingOnFailure: Step = async (name, fn, skipped) => {
    for (;;) {
      try {
        const result = await fn();
        progress.completedSteps.push(name);
        progress.step = null;
        return result;
      } catch (err) {
        if (!(err instanceof ActivityFailure) || isCancellation(err)) throw err;
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

  return { progress, setStatus, step };
}

/**
 * Records how a run ended after `err`: `cancelled` or `failed`, with the step it failed in.
 * The write runs in a non-cancellable scope so it survives the cancellation that caused it.
 */
export async function recordRunFailure(
  err: unknown,
  run: { progress: RunProgress; setStatus: (status: RunStatus) => void },
  write: (status: RunStatus, error: FailureSummary) => Promise<void>,
): Promise<void> {
  const status: RunStatus = isCancellation(err) ? 'cancelled' : 'failed';
  const error = failureSummary(err, run.progress.step);
  await CancellationScope.nonCancellable(async () => {
    run.setStatus(status);
    await write(status, error);
  });
}
