import { AsyncLocalStorage } from 'node:async_hooks';
import type { ActivityExecuteInput, ActivityInboundCallsInterceptor, Next } from '@temporalio/worker';
import { buildId } from '../build-info';

const attemptBuild = new AsyncLocalStorage<string>();

/**
 * Makes the worker's build id (KEEL_BUILD_ID from its configuration) known to the attempt it
 * runs, so the ledger records which code ran it without every activity carrying it.
 */
export class BuildLineageInterceptor implements ActivityInboundCallsInterceptor {
  constructor(private readonly build: string) {}

  execute(input: ActivityExecuteInput, next: Next<ActivityInboundCallsInterceptor, 'execute'>): Promise<unknown> {
    return attemptBuild.run(this.build, () => next(input));
  }
}

/** The build running the current attempt: the worker's, else this process's (git / KEEL_BUILD_ID). */
export function attemptBuildId(): string {
  return attemptBuild.getStore() ?? buildId();
}
