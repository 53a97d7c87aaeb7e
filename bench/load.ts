import { performance } from 'node:perf_hooks';
import { inspect } from 'node:util';

export interface RunFailure {
  index: number;
  error: string;
}

export interface LoadResult<T> {
  samples: T[];
  failures: RunFailure[];
  wallMs: number;
}

/**
 * Closed-loop load: `concurrency` lanes each start the next run as soon as their previous one
 * finishes, so the system always has exactly that many runs in flight (an open loop at a fixed
 * rate would measure queueing instead once the rate exceeds capacity).
 */
export async function closedLoop<T>(count: number, concurrency: number, run: (index: number) => Promise<T>): Promise<LoadResult<T>> {
  const samples: T[] = [];
  const failures: RunFailure[] = [];
  let next = 0;
  const started = performance.now();
  const lane = async () => {
    for (let i = next++; i < count; i = next++) {
      try {
        samples.push(await run(i));
      } catch (err) {
        failures.push({ index: i, error: describeError(err) });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, lane));
  return { samples, failures, wallMs: performance.now() - started };
}

/** One line per failure, with the cause chain: "WorkflowFailedError: ... ← ActivityFailure: ...". */
export function describeError(err: unknown): string {
  const parts: string[] = [];
  let current: unknown = err;
  for (let depth = 0; current !== undefined && current !== null && depth < 5; depth++) {
    parts.push(current instanceof Error ? `${current.name}: ${current.message}` : inspect(current));
    current = current instanceof Error ? current.cause : undefined;
  }
  return parts.join(' ← ');
}
