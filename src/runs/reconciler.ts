import type { WorkflowExecutionInfo } from '@temporalio/client';
import type { Logger } from 'pino';
import { CLOSED_STATUS } from './status';
import { syncRun, type RunSyncDeps } from './sync';

export interface ReconcilerOptions extends RunSyncDeps {
  /** How often visibility is asked what closed or started. */
  intervalMs: number;
  /** How far back the first pass looks (runs that closed while no reconciler ran). */
  lookbackMs?: number;
  log?: Pick<Logger, 'warn' | 'debug'>;
}

export interface Reconciler {
  /** One pass now; the loop calls it every interval. */
  tick(): Promise<number>;
  stop(): Promise<void>;
}

const iso = (d: Date) => d.toISOString();

/**
 * Keeps every run's row on Temporal's word without anyone reading the run: each pass asks
 * Temporal's visibility for Keel executions that closed, and for ones that started (a reset
 * makes a new execution of a workflow whose row may already be terminal), since the last pass
 * minus an overlap (visibility is eventually consistent). A closed execution whose row already
 * says the same (its own workflow wrote the status) only gets Temporal's close time; anything
 * else — a termination, a cancel's reason, a reset, an execution the row does not know — goes
 * through `syncRun`, which also records the operator actions in the histories. Every worker runs
 * one; the writes are idempotent, so more than one costs queries, not correctness.
 *
 * Listing costs the Temporal server (about 0.36 ms of CPU per execution on the dev server) and
 * this process, for every pass an execution stays in the window. So the long overlap is asked only
 * for closed executions whose search attribute disagrees with how they closed, the ones with
 * something to sync (a completed run's workflow sets `KeelStatus` to `completed` as it completes);
 * the close time of the rest comes from a window one interval long past the last pass. A
 * completed execution that reaches visibility later than that keeps the completion time its own
 * workflow wrote, milliseconds before the close (docs/lean-orchestration.md, session 8).
 */
export function startRunReconciler(opts: ReconcilerOptions): Reconciler {
  const { db, temporal } = opts;
  // Visibility is eventually consistent (seconds on Elasticsearch, at once on SQL): each pass looks
  // back this far past the last one for runs that started, and for closed ones with something to
  // sync; a completed run is listed only while it is recent (see above). What was settled is remembered.
  const overlapMs = Math.max(10_000, opts.intervalMs * 3);
  /** Executions (workflowId/runId) this reconciler already settled, with their close time: skipped while they stay in the window. */
  const settled = new Map<string, number>();
  let since = new Date(Date.now() - (opts.lookbackMs ?? 15 * 60_000));
  let stopped = false;
  let current: Promise<unknown> = Promise.resolve();

  const list = async (name: 'closed_recently' | 'closed_disagreeing' | 'running', query: string): Promise<WorkflowExecutionInfo[]> => {
    const out: WorkflowExecutionInfo[] = [];
    for await (const info of temporal.workflow.list({ query })) out.push(info);
    opts.metrics?.reconcilerListed.inc({ query: name }, out.length);
    return out;
  };

  const tick = async (): Promise<number> => {
    const started = new Date();
    const from = iso(new Date(since.getTime() - overlapMs));
    const recently = iso(new Date(since.getTime() - opts.intervalMs));
    const [closedRecently, disagreeing, running] = await Promise.all([
      list('closed_recently', `KeelRunType IS NOT NULL AND CloseTime > "${recently}"`),
      // Everything but a completed execution whose KeelStatus says completed, over the long overlap.
      list('closed_disagreeing', `KeelRunType IS NOT NULL AND CloseTime > "${from}" AND (ExecutionStatus != "Completed" OR KeelStatus != "completed")`),
      list('running', `KeelRunType IS NOT NULL AND ExecutionStatus = "Running" AND StartTime > "${from}"`),
    ]);
    const closed = [...closedRecently, ...disagreeing];
    // The newest execution per workflow decides; an older one closed by a reset says nothing.
    const latest = new Map<string, WorkflowExecutionInfo>();
    for (const w of [...closed, ...running]) {
      const seen = latest.get(w.workflowId);
      if (!seen || w.startTime > seen.startTime || (w.status.name === 'RUNNING' && seen.status.name !== 'RUNNING')) latest.set(w.workflowId, w);
    }
    const settledKey = (w: WorkflowExecutionInfo) => `${w.workflowId}/${w.runId}`;
    for (const [id, w] of latest) if (w.closeTime && settled.get(settledKey(w)) === w.closeTime.getTime()) latest.delete(id);
    const rows = latest.size
      ? await db.run.findMany({ where: { id: { in: [...latest.keys()] } }, select: { id: true, status: true, workflowRunId: true, completedAt: true, tenantId: true } })
      : [];
    const byId = new Map(rows.map((r) => [r.id, r]));
    let synced = 0;
    /** Runs whose workflow wrote its own ending: Temporal's close time is the one that counts, set for all of them in one statement. */
    const closeTimes: Array<{ id: string; runId: string; status: string; closeTime: Date }> = [];
    for (const [id, info] of latest) {
      const row = byId.get(id);
      if (!row) continue;
      const status = CLOSED_STATUS[info.status.name];
      const closeTime = info.closeTime;
      if (status && closeTime && row.workflowRunId === info.runId && row.status === status && status !== 'cancelled') {
        if (row.completedAt?.getTime() !== closeTime.getTime()) closeTimes.push({ id, runId: info.runId, status, closeTime });
        else settled.set(settledKey(info), closeTime.getTime());
        continue;
      }
      // A running execution the row already names has nothing to tell it: the run is in progress, or
      // its workflow has written its ending and is about to close (the closed list brings the close
      // time). Nor does one whose workflow has not reached its first step, which marks the run
      // running with this execution. Syncing either would cost a describe and a history read, for
      // about one run in ten under load, to race the workflow's own write (docs/lean-orchestration.md).
      if (!status && (row.workflowRunId === info.runId || (row.workflowRunId === null && row.status === 'queued'))) continue;
      if (status === 'cancelled' && row.status === 'cancelled' && row.workflowRunId === info.runId && row.completedAt?.getTime() === closeTime?.getTime()) continue;
      try {
        await syncRun(opts, id);
        synced++;
      } catch (err) {
        opts.log?.warn({ err, runId: id }, 'could not reconcile a run with Temporal');
      }
    }
    if (closeTimes.length > 0) {
      await db.$executeRaw`
        UPDATE run SET completed_at = v.close_time
        FROM (SELECT * FROM unnest(${closeTimes.map((c) => c.id)}::text[], ${closeTimes.map((c) => c.runId)}::text[],
                                   ${closeTimes.map((c) => c.status)}::text[], ${closeTimes.map((c) => c.closeTime.toISOString())}::timestamptz[])
              AS t(id, workflow_run_id, status, close_time)) AS v
        WHERE run.id = v.id AND run.workflow_run_id = v.workflow_run_id AND run.status = v.status`;
      for (const c of closeTimes) settled.set(`${c.id}/${c.runId}`, c.closeTime.getTime());
    }
    // Forget what has left the window: it will not be listed again.
    const horizon = Date.now() - overlapMs * 2 - opts.intervalMs;
    for (const [key, closedAt] of settled) if (closedAt < horizon) settled.delete(key);
    since = started;
    return synced;
  };

  const loop = async () => {
    while (!stopped) {
      current = tick().catch((err: unknown) => opts.log?.warn({ err }, 'run reconciler pass failed'));
      await current;
      if (stopped) break;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, opts.intervalMs);
        timer.unref();
      });
    }
  };
  const running = loop();
  return {
    tick,
    async stop() {
      stopped = true;
      await current;
      void running;
    },
  };
}
