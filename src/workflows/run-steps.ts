import { ApplicationFailure, setHandler, upsertSearchAttributes } from '@temporalio/workflow';
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

export function failureSummary(err: unknown, step: string | null): { type: string; message: string; step?: string; details?: unknown } {
  const cause = err instanceof Error && err.cause instanceof Error ? err.cause : err;
  const type = cause instanceof ApplicationFailure && cause.type ? cause.type : cause instanceof Error ? cause.name : 'Error';
  const message = cause instanceof Error ? cause.message : String(cause);
  const details = cause instanceof ApplicationFailure && cause.details?.length ? cause.details[0] : undefined;
  return { type, message, ...(step ? { step } : {}), ...(details === undefined ? {} : { details }) };
}
