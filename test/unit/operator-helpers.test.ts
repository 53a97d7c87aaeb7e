import { temporal } from '@temporalio/proto';
import assert from 'node:assert/strict';
import { idempotentRunId } from '../../src/api/idempotency';
import { findResetPoint } from '../../src/api/reset-point';

// fromObject turns plain numbers into the Longs that real histories carry.
const event = (plain: Record<string, unknown>) => temporal.api.history.v1.HistoryEvent.fromObject(plain);
const scheduled = (eventId: number, workflowTaskCompletedEventId: number, name: string) =>
  event({
    eventId,
    eventType: 'EVENT_TYPE_ACTIVITY_TASK_SCHEDULED',
    activityTaskScheduledEventAttributes: { activityId: String(eventId), activityType: { name }, workflowTaskCompletedEventId },
  });
const completed = (eventId: number, scheduledEventId: number) =>
  event({ eventId, eventType: 'EVENT_TYPE_ACTIVITY_TASK_COMPLETED', activityTaskCompletedEventAttributes: { scheduledEventId } });
const failed = (eventId: number, scheduledEventId: number) =>
  event({ eventId, eventType: 'EVENT_TYPE_ACTIVITY_TASK_FAILED', activityTaskFailedEventAttributes: { scheduledEventId } });

describe('operator helpers', () => {
  describe('findResetPoint', () => {
    it('picks the workflow task that scheduled the step that never completed', () => {
      const point = findResetPoint({
        events: [scheduled(5, 4, 'markRunRunning'), completed(7, 5), scheduled(11, 10, 'sanitizeInput'), completed(13, 11), scheduled(17, 16, 'generate'), failed(19, 17), scheduled(23, 22, 'markRunFinished'), completed(25, 23)],
      });
      assert.deepEqual(point && { ...point, workflowTaskFinishEventId: Number(point.workflowTaskFinishEventId) }, {
        workflowTaskFinishEventId: 16,
        activityType: 'generate',
        activityId: '17',
      });
    });

    it('passes over a best-effort activity that failed after the step', () => {
      const point = findResetPoint({ events: [scheduled(5, 4, 'generate'), failed(7, 5), scheduled(11, 10, 'notifyOperator'), failed(13, 11)] });
      assert.equal(point?.activityType, 'generate');
    });

    it('finds none when every step completed (the run failed in workflow code)', () => {
      assert.equal(findResetPoint({ events: [scheduled(5, 4, 'sanitizeInput'), completed(7, 5)] }), undefined);
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
