import type { Db } from '../db/client';
import type { Prisma } from '../generated/prisma/client';
import { problems } from './problem';

const IN_FLIGHT = ['queued', 'running'];

/**
 * Creates a run unless the tenant already has `limit` runs in flight. The count and the insert
 * happen under a per-tenant transaction-scoped advisory lock, so concurrent requests on any
 * number of API processes cannot both see "one slot left" and overshoot the quota.
 */
export async function createRunWithinQuota(db: Db, limit: number, data: Prisma.RunUncheckedCreateInput): Promise<void> {
  await db.$transaction(async (tx) => {
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(${`keel:runs:${data.tenantId}`}, 0))`;
    const inFlight = await tx.run.count({ where: { tenantId: data.tenantId, status: { in: IN_FLIGHT } } });
    if (inFlight >= limit) throw problems.concurrencyLimit(limit);
    await tx.run.create({ data });
  });
}
