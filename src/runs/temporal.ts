import { isGrpcServiceError, WorkflowFailedError, WorkflowNotFoundError, type Client, type WorkflowExecutionDescription } from '@temporalio/client';
import { decodeArrayFromPayloads } from '@temporalio/common/lib/internal-non-workflow';
import { tsToMs } from '@temporalio/common/lib/time';
import { temporal as proto } from '@temporalio/proto';
import { v5 as uuidv5 } from 'uuid';
import { resumeRunUpdate, type ResumeRequest } from '../shared';
import type { RunError } from './status';

type HistoryEvent = proto.api.history.v1.IHistoryEvent;
const EventType = proto.api.enums.v1.EventType;
const RESET_CAUSE = proto.api.enums.v1.WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_RESET_WORKFLOW;
const GRPC_NOT_FOUND = 5;

/**
 * Who acted, as Temporal recorded it. Keel's API sends `keel-api key:<key id>` as its identity on
 * every request it makes for an operator, so its actions read back as `key:<key id>`; anything else
 * (the Web UI, the CLI, another client) reads as `temporal:<identity>`.
 */
export const KEEL_IDENTITY_PREFIX = 'keel-api ';
export const keelIdentity = (keyId: string): string => `${KEEL_IDENTITY_PREFIX}key:${keyId}`;
export function actorOf(identity: string | null | undefined): string {
  if (identity?.startsWith(KEEL_IDENTITY_PREFIX)) return identity.slice(KEEL_IDENTITY_PREFIX.length);
  return `temporal:${identity || 'unknown'}`;
}

/**
 * Temporal's history does not say who reset a workflow (the reset event's identity is the server's
 * own), so whoever resets names themselves at the end of the reason: `<reason> (by <identity>)`.
 * Keel's API does; in the Web UI or the CLI an operator may, else the audit says `temporal:unknown`.
 */
const SERVER_IDENTITY = 'history-service';
export const resetReason = (reason: string, identity: string): string => `${reason} (by ${identity})`;
export function splitResetReason(text: string): { reason: string; by?: string } {
  const m = /^(.*?) \(by (.+)\)$/s.exec(text);
  return m ? { reason: m[1] ?? '', by: m[2] } : { reason: text };
}

/** Temporal says "not found" both for unknown workflows and for executions that already closed. */
export function isGone(err: unknown): boolean {
  return err instanceof WorkflowNotFoundError || (isGrpcServiceError(err) && Number(err.code) === GRPC_NOT_FOUND);
}

export interface Execution {
  runId: string;
  startTime: Date;
  history: HistoryEvent[];
}

/** An operator action as the workflow's history records it. */
export interface HistoryAuditEvent {
  /** Derived from the run, event id and event time: the same event read twice is one row. */
  id: string;
  action: string;
  actor: string;
  reason: string | null;
  details: Record<string, unknown>;
  createdAt: Date;
  /** For matching an API request to the event it made. */
  updateId?: string;
  identity: string;
}

const BOOKKEEPING = /^(markRun|notifyOperator$)/;
const AUDIT_ID_NAMESPACE = '8c3f0d52-5a0e-4d8e-9a43-1f6b2c7d9e10';
const eventTimeMs = (e: HistoryEvent) => tsToMs(e.eventTime);

/** Every execution of the run's workflow, oldest first, with its history. */
export async function readExecutions(temporal: Client, runId: string, latest: WorkflowExecutionDescription): Promise<Execution[]> {
  const found = new Map<string, Date>();
  // Visibility lists every execution under the workflow id (a reset makes a new one); the run id
  // is a UUID (or an idempotency-derived one), so it is safe inside the query's quotes.
  if (/^[\w-]+$/.test(runId)) {
    for await (const info of temporal.workflow.list({ query: `WorkflowId = "${runId}"` })) found.set(info.runId, info.startTime);
  }
  // Visibility can lag the execution that answered `describe`.
  if (!found.has(latest.runId)) found.set(latest.runId, latest.startTime);
  const executions = await Promise.all(
    [...found].map(async ([execution, startTime]) => ({
      runId: execution,
      startTime,
      history: (await temporal.workflow.getHandle(runId, execution).fetchHistory()).events ?? [],
    })),
  );
  // A reset execution names the one it came from: follow that chain; start time breaks other ties.
  const baseOf = new Map(executions.map((e) => [e.runId, resetEvent(e.history)?.workflowTaskFailedEventAttributes?.baseRunId ?? undefined]));
  const depth = (id: string, seen = new Set<string>()): number => {
    const base = baseOf.get(id);
    if (!base || seen.has(base) || !baseOf.has(base)) return 0;
    seen.add(id);
    return 1 + depth(base, seen);
  };
  return executions.sort((a, b) => depth(a.runId) - depth(b.runId) || a.startTime.getTime() - b.startTime.getTime());
}

function resetEvent(history: HistoryEvent[]): HistoryEvent | undefined {
  return history.find(
    (e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED && e.workflowTaskFailedEventAttributes?.cause === RESET_CAUSE,
  );
}

/**
 * The operator actions in the histories: cancel requests, terminations, resets, accepted updates
 * and signals, each with Temporal's identity of whoever sent it and the reason they gave. A reset
 * copies the events before its reset point into the new execution; they keep their ids and times,
 * so they map to the same audit id and are recorded once.
 */
export async function auditEventsOf(temporal: Client, runId: string, executions: Execution[]): Promise<HistoryAuditEvent[]> {
  const out = new Map<string, HistoryAuditEvent>();
  const byRunId = new Map(executions.map((e) => [e.runId, e]));
  const resetBases = new Set(executions.map((e) => resetEvent(e.history)?.workflowTaskFailedEventAttributes?.baseRunId).filter(Boolean));
  for (const execution of executions) {
    for (const e of execution.history) {
      const base = { id: uuidv5(`${runId}/${String(e.eventId)}/${eventTimeMs(e)}`, AUDIT_ID_NAMESPACE), createdAt: new Date(eventTimeMs(e)) };
      const event = await toAuditEvent(temporal, e, execution, byRunId, resetBases.has(execution.runId));
      if (event && !out.has(base.id)) out.set(base.id, { ...base, ...event });
    }
  }
  return [...out.values()].sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime());
}

async function toAuditEvent(
  temporal: Client,
  e: HistoryEvent,
  execution: Execution,
  executions: Map<string, Execution>,
  wasReset: boolean,
): Promise<Omit<HistoryAuditEvent, 'id' | 'createdAt'> | undefined> {
  switch (e.eventType) {
    case EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED: {
      const a = e.workflowExecutionCancelRequestedEventAttributes;
      return { action: 'cancel', identity: a?.identity ?? '', actor: actorOf(a?.identity), reason: a?.cause || null, details: { workflowRunId: execution.runId } };
    }
    case EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED: {
      const a = e.workflowExecutionTerminatedEventAttributes;
      // Resetting a running execution terminates it; the reset itself is the operator's action.
      if (wasReset && /reset/i.test(a?.reason ?? '')) return undefined;
      return { action: 'terminate', identity: a?.identity ?? '', actor: actorOf(a?.identity), reason: a?.reason || null, details: { workflowRunId: execution.runId } };
    }
    case EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED: {
      const a = e.workflowTaskFailedEventAttributes;
      if (a?.cause !== RESET_CAUSE) return undefined;
      const resetToEventId = Number(e.eventId);
      const baseHistory = executions.get(a.baseRunId ?? '')?.history ?? [];
      const discarded = baseHistory.filter((b) => Number(b.eventId) > resetToEventId);
      const scheduled = new Map(
        discarded
          .filter((b) => b.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)
          .map((b) => [Number(b.eventId), b.activityTaskScheduledEventAttributes?.activityType?.name ?? 'unknown']),
      );
      // Steps that completed (and were billed) in the old execution and will run again in the new
      // one; the run's own bookkeeping (status writes, alerts) is not a step.
      const rerunsCompletedSteps = discarded
        .filter((b) => b.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED)
        .map((b) => scheduled.get(Number(b.activityTaskCompletedEventAttributes?.scheduledEventId)))
        .filter((name): name is string => name !== undefined && !BOOKKEEPING.test(name));
      const { reason, by } = splitResetReason(a.failure?.message ?? '');
      // Temporal records the history service, not the requester, as the reset's identity.
      const identity = by ?? (a.identity === SERVER_IDENTITY ? '' : (a.identity ?? ''));
      return {
        action: 'reset',
        identity,
        actor: actorOf(identity),
        reason: reason || null,
        details: {
          fromWorkflowRunId: a.baseRunId ?? null,
          toWorkflowRunId: a.newRunId || execution.runId,
          resetToEventId,
          step: scheduled.values().next().value ?? null,
          rerunsCompletedSteps,
        },
      };
    }
    case EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED: {
      const request = e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest;
      const identity = request?.meta?.identity ?? '';
      const name = request?.input?.name ?? 'unknown';
      const updateId = request?.meta?.updateId ?? undefined;
      if (name !== resumeRunUpdate.name) return { action: `update:${name}`, identity, actor: actorOf(identity), reason: null, details: { workflowRunId: execution.runId }, updateId };
      const [args] = (await decodeArrayFromPayloads(temporal.options.loadedDataConverter, request?.input?.args?.payloads)) as [Partial<ResumeRequest> | undefined];
      return {
        action: 'resume',
        identity,
        actor: actorOf(identity),
        reason: typeof args?.reason === 'string' ? args.reason : null,
        details: { action: args?.action ?? null, claimedActor: args?.actor ?? null, workflowRunId: execution.runId },
        updateId,
      };
    }
    case EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED: {
      const a = e.workflowExecutionSignaledEventAttributes;
      return { action: 'signal', identity: a?.identity ?? '', actor: actorOf(a?.identity), reason: null, details: { signalName: a?.signalName ?? null, workflowRunId: execution.runId } };
    }
    default:
      return undefined;
  }
}

/** The last cancel request's reason and sender, which the cancelled workflow itself never learns. */
export function cancelRequest(history: HistoryEvent[]): { reason: string; actor: string } | undefined {
  const e = history.findLast((h) => h.eventType === EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED);
  const a = e?.workflowExecutionCancelRequestedEventAttributes;
  return a ? { reason: a.cause || 'cancelled', actor: actorOf(a.identity) } : undefined;
}

export function termination(history: HistoryEvent[]): { reason: string; actor: string } | undefined {
  const e = history.findLast((h) => h.eventType === EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED);
  const a = e?.workflowExecutionTerminatedEventAttributes;
  return a ? { reason: a.reason || 'terminated', actor: actorOf(a.identity) } : undefined;
}

/** How a failed or timed-out execution ended, read from its result. */
export async function failureOf(temporal: Client, runId: string, execution: string): Promise<RunError> {
  const failure = await temporal.workflow.getHandle(runId, execution).result().then(
    () => undefined,
    (err: unknown) => (err instanceof WorkflowFailedError && err.cause ? err.cause : err),
  );
  if (!(failure instanceof Error)) return { type: 'WorkflowClosed', message: 'The run closed without a failure' };
  const type = 'type' in failure && typeof failure.type === 'string' && failure.type ? failure.type : failure.name;
  return { type, message: failure.message };
}
