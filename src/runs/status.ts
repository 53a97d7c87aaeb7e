import { Prisma } from '../generated/prisma/client';
import { TERMINAL_STATUSES, type RunStatus } from '../shared';

export { TERMINAL_STATUSES };

export function isTerminal(status: string): boolean {
  return TERMINAL_STATUSES.includes(status as RunStatus);
}

/** The terminal statuses as an SQL list, the one place conditional UPDATEs take them from. */
export function terminalSql(): Prisma.Sql {
  return Prisma.join([...TERMINAL_STATUSES]);
}

/** How Temporal names a closed execution's status, in Keel's words. */
export const CLOSED_STATUS: Partial<Record<string, RunStatus>> = {
  COMPLETED: 'completed',
  FAILED: 'failed',
  CANCELLED: 'cancelled',
  TERMINATED: 'terminated',
  TIMED_OUT: 'timed_out',
};

export interface RunError {
  type: string;
  message: string;
  step?: string;
  details?: unknown;
  /** Why guardrails blocked the run: layers and rules, never content. */
  reasons?: unknown[];
}
