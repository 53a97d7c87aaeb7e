/**
 * When `npm start` restarts a Keel process that died (crash-only: the process is disposable,
 * the stack is not). Backoff doubles from `initialMs` to `maxMs`; a process that stayed up for
 * `healthyAfterMs` before dying starts again from `initialMs`, so one crash a day is restarted
 * at once while a crash loop is slowed down instead of spinning.
 */
export interface RestartPolicy {
  initialMs: number;
  maxMs: number;
  healthyAfterMs: number;
}

export const DEFAULT_RESTART_POLICY: RestartPolicy = { initialMs: 500, maxMs: 30_000, healthyAfterMs: 60_000 };

export function restartDelay(policy: RestartPolicy, previousDelayMs: number | undefined, upForMs: number): number {
  if (previousDelayMs === undefined || upForMs >= policy.healthyAfterMs) return policy.initialMs;
  return Math.min(policy.maxMs, previousDelayMs * 2);
}
