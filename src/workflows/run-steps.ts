import { ApplicationFailure, CancellationScope, isCancellation, setHandler, upsertSearchAttributes } from '@temporalio/workflow';
import { runProgressQuery, SearchAttr, type RunProgress, type RunStatus } from '../shared';

/** Progress bookkeeping shared by Keel's workflows: the query handler, status attribute and named steps. */
export function trackRun() {
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
  return { progress, setStatus, step };
}

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
