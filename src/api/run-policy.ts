import { z } from 'zod';
import type { Db } from '../db/client';
import { ON_FAILURE_POLICIES, type OnFailurePolicy } from '../shared';

const Policy = z.enum(ON_FAILURE_POLICIES).catch('fail');

/** The tenant's `onFailure` policy, for requests that don't choose one themselves. */
export async function tenantOnFailure(db: Db, tenantId: string): Promise<OnFailurePolicy> {
  const tenant = await db.tenant.findUnique({ where: { id: tenantId }, select: { onFailure: true } });
  return tenantOnFailurePolicy(tenant?.onFailure);
}

/** A tenant row's stored `onFailure`, read as a policy (anything unknown is `fail`). */
export function tenantOnFailurePolicy(stored: unknown): OnFailurePolicy {
  return Policy.parse(stored);
}
