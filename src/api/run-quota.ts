import type { Db } from '../db/client';
import type { Prisma } from '../generated/prisma/client';
import { TERMINAL_STATUSES } from '../shared';
import { problems } from './problem';

/**
 * Inserts a run unless the tenant already has `limit` runs that have not finished (queued,
 * running or waiting for an operator). The count and the insert happen under a per-tenant
 * transaction-scoped advisory lock, so concurrent requests on any number of API processes cannot
 * both see "one slot left" and overshoot. A run whose id already exists (an `Idempotency-Key`
 * replay) is not counted again: `count` is 0 and the caller answers with the existing run.
 */
export async function createRunWithinQuota(db: Db, limit: number, data: Prisma.RunCreateManyInput): Promise<{ count: number }> {
  return db.$transaction(async (tx) => {
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(${`keel:runs:${data.tenantId}`}, 0))`;
    if (await tx.run.findUnique({ where: { id: data.id }, select: { id: true } })) return { count: 0 };
    const inFlight = await tx.run.count({ where: { tenantId: data.tenantId, status: { notIn: [...TERMINAL_STATUSES] } } });
    if (inFlight >= limit) throw problems.concurrencyLimit(limit);
    return tx.run.createMany({ data: [data], skipDuplicates: true });
    // A burst from one tenant queues on its lock, each request holding a pooled connection while
    // it waits: give them longer than Prisma's 2 s / 5 s defaults before answering 503.
  }, { maxWait: 10_000, timeout: 15_000 });
}
