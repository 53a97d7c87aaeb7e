import { Prisma } from '../generated/prisma/client';

/**
 * Prisma codes that mean "the database is overloaded or unreachable right now", not "this
 * request is wrong": a transaction that could not start or finish in time (P2028), the pool
 * had no free connection in time (P2024), the server could not be reached (P1001, P1002).
 * Callers answer them as retryable, not as a bug.
 */
const BUSY_CODES = new Set(['P2028', 'P2024', 'P1001', 'P1002']);

export function isDatabaseBusy(err: unknown): boolean {
  return err instanceof Prisma.PrismaClientKnownRequestError && BUSY_CODES.has(err.code);
}
