import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import pino from 'pino';
import { createMetrics } from '../src/metrics/metrics';
import { findDrift, startDriftMonitor } from '../src/trace/drift';
import type { DriftReport } from '../src/trace/drift';
import { eventually, http, startStack, type TestStack } from './support/stack';

const DAY = 86_400_000;

/** Ledger rows as the worker writes them: a run, and one model attempt per day with its lineage. */
async function recordAttempts(stack: TestStack, tenantId: string, version: { model: string; prompt: string }, latencies: number[], failedLastDay = false): Promise<void> {
  const runId = randomUUID();
  const now = Date.now();
  await stack.db.run.create({ data: { id: runId, tenantId, type: 'answer', status: 'completed', input: {}, inputHash: 'x', createdAt: new Date(now - latencies.length * DAY) } });
  await stack.db.runStep.createMany({
    data: latencies.map((latencyMs, i) => ({
      id: randomUUID(),
      runId,
      tenantId,
      workflowRunId: 'w',
      activityId: String(i),
      step: 'generate',
      attempt: 1,
      status: failedLastDay && i === latencies.length - 1 ? 'failed' : 'completed',
      startedAt: new Date(now - (latencies.length - 1 - i) * DAY),
      latencyMs,
      costUsd: 0.0001,
      lineage: { build: 'b1', modelConfig: { id: version.model, model: 'm', endpoint: 'http://x', price: null }, prompts: [{ id: 'answer', variant: null, version: version.prompt }] },
    })),
  });
}

describe('drift: per version and day, flagged beyond the trailing window', function () {
  this.timeout(120_000);
  let stack: TestStack;

  before(async () => {
    stack = await startStack({ label: 'drift', workers: false });
  });
  after(async () => {
    await stack?.stop();
  });

  it('flags a day beyond sigma of the trailing window, and nothing on steady or short series', () => {
    const days = (values: number[]) => values.map((v, i) => ({ day: `d${i}`, attempts: 10, latencyMs: v, costUsd: 0.001, failureRate: 0 }));
    const jump = findDrift(days([1000, 1010, 990, 1005, 995, 1000, 1002, 3000]), { windowDays: 7, sigma: 3 });
    assert.deepEqual(jump.map((f) => [f.metric, f.day]), [['latencyMs', 'd7']]);
    assert.ok(jump[0]!.z > 3);
    assert.deepEqual(findDrift(days([1000, 1010, 990, 1005, 995, 1000, 1002, 1008]), { windowDays: 7, sigma: 3 }), []);
    assert.deepEqual(findDrift(days([1000, 1000, 3000]), { windowDays: 7, sigma: 3 }), [], 'two days are not a window');
    // A flat window still notices a real jump (stddev floored at 5 % of the mean).
    assert.equal(findDrift(days([1000, 1000, 1000, 1000, 1300]), { windowDays: 7, sigma: 3 }).length, 1);
  });

  it('GET /v1/metrics/drift reports each version of the tenant by day, marks the drifting one, and sees no other tenant', async () => {
    await recordAttempts(stack, stack.tenantId, { model: 'm@slow', prompt: 'p1' }, [1000, 1020, 980, 1010, 990, 1000, 1005, 3200], true);
    await recordAttempts(stack, stack.tenantId, { model: 'm@steady', prompt: 'p1' }, [500, 510, 490, 505, 495, 500, 502, 498]);
    const other = await stack.addTenant('tenant-b');
    await recordAttempts(stack, other.tenantId, { model: 'm@other-tenant', prompt: 'p9' }, [1, 2, 3, 4]);

    const res = await http<DriftReport>(stack, 'GET', '/v1/metrics/drift?days=10');
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const byVersion = new Map(res.body.versions.map((v) => [v.version, v]));
    assert.deepEqual([...byVersion.keys()].sort(), ['m@slow answer:p1', 'm@steady answer:p1']);
    const slow = byVersion.get('m@slow answer:p1')!;
    assert.equal(slow.days.length, 8);
    assert.deepEqual(slow.drifting.map((d) => d.metric).sort(), ['failureRate', 'latencyMs']);
    assert.deepEqual(byVersion.get('m@steady answer:p1')!.drifting, []);
    assert.ok(res.body.runs.length >= 1);
  });

  it('the worker-side monitor sets the drift gauges and logs the drift once', async () => {
    const metrics = createMetrics('worker');
    const lines: Array<Record<string, unknown>> = [];
    const log = pino({ level: 'warn' }, new Writable({ write: (chunk: Buffer, _e, done) => { lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>); done(); } }));
    const stop = startDriftMonitor({ db: stack.db, metrics, log }, { days: 10, windowDays: 7, sigma: 3, intervalMs: 60_000 });
    try {
      const detected = await eventually(async () => {
        const text = await metrics.registry.metrics();
        return /keel_drift_detected\{version="m@slow answer:p1",metric="latencyMs",service="worker"\} 1/.test(text) ? text : undefined;
      }, 'the drift gauge');
      assert.match(detected, /keel_drift_detected\{version="m@steady answer:p1",metric="latencyMs",service="worker"\} 0/);
      assert.ok(lines.some((l) => l.event === 'drift' && l.version === 'm@slow answer:p1' && l.metric === 'latencyMs'), 'a drift log event');
    } finally {
      stop();
    }
  });
});
