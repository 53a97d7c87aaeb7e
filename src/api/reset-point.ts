import { temporal } from '@temporalio/proto';

type History = temporal.api.history.v1.IHistory;
type EventId = NonNullable<temporal.api.history.v1.IHistoryEvent['eventId']>;
const EventType = temporal.api.enums.v1.EventType;

export interface ResetPoint {
  /** The WorkflowTaskCompleted event whose task scheduled the step that did not finish. */
  workflowTaskFinishEventId: EventId;
  activityType: string;
  activityId: string;
}

/** Activities whose failure a workflow tolerates: never the step to retry from. */
const BEST_EFFORT_ACTIVITIES = new Set(['notifyOperator']);

/**
 * Where to reset a failed run so only the failed step runs again: the workflow task that
 * scheduled the last activity that never completed. Resetting there keeps every earlier event,
 * so completed activities replay from history instead of running (and billing) again.
 * Returns undefined when every activity completed (the run failed in workflow code).
 */
export function findResetPoint(history: History): ResetPoint | undefined {
  const events = history.events ?? [];
  const completed = new Set<number>();
  for (const e of events) {
    if (e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED) {
      completed.add(Number(e.activityTaskCompletedEventAttributes?.scheduledEventId));
    }
  }
  for (let i = events.length - 1; i >= 0; i--) {
    const e = events[i];
    if (e?.eventType !== EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED || completed.has(Number(e.eventId))) continue;
    const attrs = e.activityTaskScheduledEventAttributes;
    if (BEST_EFFORT_ACTIVITIES.has(attrs?.activityType?.name ?? '')) continue;
    if (!attrs?.workflowTaskCompletedEventId) return undefined;
    return {
      workflowTaskFinishEventId: attrs.workflowTaskCompletedEventId,
      activityType: attrs.activityType?.name ?? 'unknown',
      activityId: attrs.activityId ?? 'unknown',
    };
  }
  return undefined;
}
