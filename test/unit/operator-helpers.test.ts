import { temporal } from '@temporalio/proto';
import assert from 'node:assert/strict';
import { idempotentRunId } from '../../src/api/idempotency';
import { findResetPoint } from '../../src/api/reset-point';
import { loadHistories } from '../support/histories';

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;
const EventType = temporal.api.enums.v1.EventType;
const history = (name: string) => {
  const found = loadHistories().find((h) => h.workflowId === name);
  assert.ok(found, `fixture ${name}`);
  return found.history;
};
const upTo = (events: HistoryEvent[], lastEventId: number) => events.filter((e) => Number(e.eventId) <= lastEventId);

/**
 * An oracle that does not read `workflowTaskCompletedEventId`: the workflow task that scheduled
 * an activity is the nearest WorkflowTaskCompleted event before it in the history.
 */
function schedulingTask(events: HistoryEvent[], scheduled: HistoryEvent): number {
  const at = events.indexOf(scheduled);
  for (let i = at - 1; i >= 0; i--) if (events[i]?.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED) return Number(events[i]?.eventId);
  throw new Error('no workflow task before the activity');
}

describe('operator helpers', () => {
  // Real recorded histories (test/fixtures/histories): they carry the WorkflowTaskCompleted
  // events a reset point must be, and commands between them (markers, search attributes,
  // activities scheduled together) so "the event before the activity" is not a shortcut.
  describe('findResetPoint on recorded histories', () => {
    it('a run paused on a failed generate resets to the workflow task that scheduled generate', () => {
      // Events 1-36 are that run as it stood before the operator resumed it.
      const events = upTo(history('answer-paused-and-resumed').events ?? [], 36);
      const point = findResetPoint({ events });
      assert.deepEqual(point && { ...point, workflowTaskFinishEventId: Number(point.workflowTaskFinishEventId) }, {
        workflowTaskFinishEventId: 17,
        activityType: 'generate',
        activityId: '3',
      });
      const target = events.find((e) => Number(e.eventId) === 17);
      assert.equal(target?.eventType, EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED);
      // markRunNeedsAttention (completed) and notifyOperator (best effort) came later: not the step.
    });

    it('a worker that died mid-step, at every step of every recorded run: the task that scheduled the last unfinished step', () => {
      let checked = 0;
      for (const { workflowId, history: h } of loadHistories()) {
        const all = h.events ?? [];
        for (const started of all.filter((e) => e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED)) {
          const events = upTo(all, Number(started.eventId));
          const done = new Set(
            events.flatMap((e) => {
              const attrs = e.activityTaskCompletedEventAttributes;
              return attrs ? [Number(attrs.scheduledEventId)] : [];
            }),
          );
          const unfinished = events.filter(
            (e) => e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED && !done.has(Number(e.eventId)) && e.activityTaskScheduledEventAttributes?.activityType?.name !== 'notifyOperator',
          );
          const step = unfinished.at(-1);
          if (!step) continue;
          const point = findResetPoint({ events });
          const where = `${workflowId} cut at event ${Number(started.eventId)}`;
          assert.ok(point, where);
          assert.equal(Number(point.workflowTaskFinishEventId), schedulingTask(events, step), where);
          assert.equal(point.activityType, step.activityTaskScheduledEventAttributes?.activityType?.name, where);
          assert.equal(point.activityId, step.activityTaskScheduledEventAttributes?.activityId, where);
          checked++;
        }
      }
      assert.ok(checked >= 30, `only ${checked} cut points`);
    });

    it('names an activity without a type "unknown"; an empty history has no reset point', () => {
      const ev = (plain: Record<string, unknown>) => temporal.api.history.v1.HistoryEvent.fromObject(plain);
      const anonymous = ev({ eventId: 6, eventType: 'EVENT_TYPE_ACTIVITY_TASK_SCHEDULED', activityTaskScheduledEventAttributes: { activityId: '7', workflowTaskCompletedEventId: 4 } });
      const point = findResetPoint({ events: [anonymous] });
      assert.deepEqual(point && { ...point, workflowTaskFinishEventId: Number(point.workflowTaskFinishEventId) }, { workflowTaskFinishEventId: 4, activityType: 'unknown', activityId: '7' });
      assert.equal(findResetPoint({}), undefined);
    });

    it('a finished run has no step to retry from', () => {
      for (const name of ['answer-normal', 'answer-failed-and-retried', 'answer-best-of-n']) {
        assert.equal(findResetPoint(history(name)), undefined, name);
      }
    });
  });

  describe('idempotentRunId', () => {
    it('is a stable UUIDv8 per (tenant, key), different across tenants and keys', () => {
      const a = idempotentRunId('tenant-a', 'key-1');
      assert.equal(a, idempotentRunId('tenant-a', 'key-1'));
      assert.match(a, /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      assert.notEqual(a, idempotentRunId('tenant-b', 'key-1'));
      assert.notEqual(a, idempotentRunId('tenant-a', 'key-2'));
    });
  });
});
