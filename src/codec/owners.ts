import type { Db } from '../db/client';
import type { PayloadOwners } from './aes-gcm-codec';

/** Workflow ids whose tenant a process remembers; a run's tenant never changes, so entries never go stale. */
const CACHE_SIZE = 10_000;

/**
 * Maps a workflow id to its tenant through Keel's run row (a run's id is its workflow id, and the
 * row is written before the workflow starts). One query per workflow per process; a workflow that
 * is not a Keel run has no owner and is not cached (it is rare, and its row may appear later).
 */
export function runOwners(db: Db): PayloadOwners {
  const cache = new Map<string, string>();
  return {
    async tenantOfWorkflow(workflowId: string): Promise<string | undefined> {
      const hit = cache.get(workflowId);
      if (hit !== undefined) return hit;
      const run = await db.run.findUnique({ where: { id: workflowId }, select: { tenantId: true } });
      if (!run) return undefined;
      if (cache.size >= CACHE_SIZE) cache.delete(cache.keys().next().value!);
      cache.set(workflowId, run.tenantId);
      return run.tenantId;
    },
  };
}
