import { WorkflowExecutionAlreadyStartedError, type Client, type WorkflowStartOptions } from '@temporalio/client';
import { createHash } from 'node:crypto';
import type { Db } from '../db/client';
import type { Prisma } from '../generated/prisma/client';
import { SearchAttr, TaskQueue, type AnswerWorkflowInput, type ExtractWorkflowInput, type IngestWorkflowInput, type OnFailurePolicy, type RunType } from '../shared';
import { answer, extract, ingest } from '../workflows';
import { canonicalJson } from './canonical-json';

/** A workflow to start, typed by the workflow function it runs. */
export type RunWorkflow =
  | { type: 'answer'; input: AnswerWorkflowInput }
  | { type: 'extract'; input: ExtractWorkflowInput }
  | { type: 'ingest'; input: IngestWorkflowInput };

export interface StartMeta {
  tenantId: string;
  model?: string;
  onFailure: OnFailurePolicy;
  /** What the Web UI shows as the workflow's summary. */
  summary: string;
}

/** The request hash an `Idempotency-Key` replay is compared with. */
export function inputHash(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex');
}

/**
 * Starts a run's workflow: the one place for the task queue, id policies, search attributes and
 * memo. The workflow id is the run id; a second start under it is refused whether the first is
 * open or closed (one key, one workflow). Returns false if a workflow with this id already exists.
 */
export async function startWorkflow(temporal: Client, run: RunWorkflow, meta: StartMeta): Promise<boolean> {
  const options = {
    taskQueue: TaskQueue.workflows,
    workflowId: run.input.runId,
    typedSearchAttributes: [
      { key: SearchAttr.tenant, value: meta.tenantId },
      { key: SearchAttr.runType, value: run.type },
      // Running in Temporal's terms from the start; only Keel's row says `queued` until a worker
      // picks the run up. Starting with `running` spares the answer workflow its first upsert
      // (docs/lean-orchestration.md).
      { key: SearchAttr.status, value: 'running' },
      ...(meta.model ? [{ key: SearchAttr.model, value: meta.model }] : []),
    ],
    staticSummary: meta.summary,
    memo: { summary: `Keel ${run.type} run${meta.model ? ` on ${meta.model}` : ''}; on failure: ${meta.onFailure}` },
    workflowIdConflictPolicy: 'FAIL',
    workflowIdReusePolicy: 'REJECT_DUPLICATE',
  } satisfies Omit<WorkflowStartOptions, 'args'>;
  try {
    switch (run.type) {
      case 'answer':
        await temporal.workflow.start(answer, { ...options, args: [run.input] });
        break;
      case 'extract':
        await temporal.workflow.start(extract, { ...options, args: [run.input] });
        break;
      case 'ingest':
        await temporal.workflow.start(ingest, { ...options, args: [run.input] });
        break;
    }
    return true;
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) return false;
    throw err;
  }
}

export type RunRowInput = Omit<Prisma.RunCreateManyInput, 'status' | 'type'> & { type: RunType };

/** Deletes what a request wrote before its workflow could start: nothing is left of it. */
export type Undo = (db: Db) => Promise<unknown>;
