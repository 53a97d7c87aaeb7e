import { Prisma } from '../generated/prisma/client';

/**
 * Prisma codes that mean "the database is overloaded or unreachable right now", not "this
 * request is wrong": a transaction that could not start or finish in time (P2028), the pool
 * had no free connection in time (P2024), the server could not be reached (P1001, P1002).
 * Callers answer them as retryable, not as a bug.
 */
const BUSY_CODES = new Set(['P2028', 'P2024', 'P1001', 'P1002']);

/** The same for a statement sent through `pg` directly (src/db/raw.ts): the socket's error code. */
const UNREACHABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

/**
 * …or the SQLSTATE: a connection exception (class 08), too many connections or other exhausted
 * resources (class 53), the server shutting down or starting (57P01–57P03).
 */
const BUSY_SQLSTATE = /^(08|53|57P0[123])/;

/** pg's own errors with no code: the pool could not connect in time, the server hung up. */
const BUSY_MESSAGE = /^(timeout exceeded when trying to connect|Connection terminated)/;

export function isDatabaseBusy(err: unknown): boolean {
  if (err instanceof Prisma.PrismaClientKnownRequestError) return BUSY_CODES.has(err.code);
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') return UNREACHABLE.has(code) || BUSY_SQLSTATE.test(code);
  return BUSY_MESSAGE.test(err.message);
}
