/**
 * Teardown in reverse order of start-up, every step attempted even when an earlier one fails,
 * so a crash half-way through start-up still leaves no server, worker or database behind.
 */
export class Cleanup {
  private readonly steps: Array<{ name: string; fn: () => Promise<void> }> = [];
  private running: Promise<void> | undefined;

  add(name: string, fn: () => Promise<void>): void {
    this.steps.push({ name, fn });
  }

  /** Idempotent: a signal arriving during teardown waits for the teardown already under way. */
  run(): Promise<void> {
    this.running ??= (async () => {
      for (const step of this.steps.reverse()) {
        try {
          await withDeadline(step.fn(), 30_000, `stopping ${step.name}`);
        } catch (err) {
          console.error(`cleanup of ${step.name} failed: ${err instanceof Error ? err.message : String(err)}`);
        }
      }
    })();
    return this.running;
  }
}

export function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Timed out after ${ms} ms ${what}`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}
