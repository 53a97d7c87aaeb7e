import type { Db } from '../db/client';
import { cleanUpAbandonedIngest } from '../documents/cleanup';
import type { RunClosedHooks } from './sync';

/**
 * What Keel does when a run closes without its workflow's own cleanup (terminated from anywhere,
 * or closed in an execution the row did not know): an ingest that did not complete leaves no
 * chunks and a failed version behind.
 */
export function keelRunClosedHooks(db: Db): RunClosedHooks {
  return {
    ingest: async (run, status) => {
      if (status !== 'completed') await cleanUpAbandonedIngest(db, run.id, status.replace('_', ' '));
    },
  };
}
