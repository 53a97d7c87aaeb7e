import { Client, WorkflowUpdateFailedError } from '@temporalio/client';
import { temporal as proto } from '@temporalio/proto';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { findResetPoint } from '../src/api/reset-point';
import { keelDataConverter } from '../src/codec/data-converter';
import { startRunReconciler } from '../src/runs/reconciler';
import { resumeRunUpdate } from '../src/shared';
import { eventually, http, startStack, type TestStack } from './support/stack';

interface Attempt {
  attempt: number;
  status: string;
  workflowRunId: string;
  error: { type?: string; message?: string } | null;
}
interface RunBody {
  id: string;
  status: string;
  result: { answer: string } | null;
  error: { type: string; message: string; step?: string; actor?: string } | null;
  completedAt: string | null;
  steps: Array<{ step: string; attempts: Attempt[] }>;
  executions: string[];
}
interface AuditBody {
  id: string;
  action: string;
  actor: string;
  reason: string | null;
  details: Record<string, unknown>;
}

const EventType = proto.api.enums.v1.EventType;
/** What the Web UI and the CLI send as who they are (a signed-in operator). */
const UI_IDENTITY = 'alice@example.com (temporal web ui)';

/**
 * The same operator action made through Keel's API and through the Temporal client exactly as the
 * Web UI and the CLI make it (workflowService calls with an identity) must leave Keel's row, its
 * list filters, result, `completedAt` (Temporal's close time), `executions` (every Temporal run)
 * and audit trail the same — without anyone reading the run singly: the test waits on the list
 * endpoint and the database, which never ask Temporal, before it reads each run.
 */
describe('run lifecycle: Keel follows Temporal whoever acts (API, Web UI, CLI)', function () {
  this.timeout(240_000);
  let stack: TestStack;
  let ui: Client;
  let keyActor: string;

  before(async () => {
    // The model call outlives the cancel's delivery (heartbeats are throttled to seconds), so the
    // attempt a cancel interrupts is the one it aborts, not one that timed out first.
    stack = await startStack({ label: 'lifecycle', env: { KEEL_RECONCILE_INTERVAL_MS: '500', KEEL_MODEL_TIMEOUT_MS: '45000' } });
    ui = new Client({ connection: stack.env.connection, namespace: stack.temporal.options.namespace, dataConverter: keelDataConverter(stack.config.KEEL_PAYLOAD_KEYS), identity: UI_IDENTITY });
    const key = await stack.db.apiKey.findFirstOrThrow({ where: { tenantId: stack.tenantId } });
    keyActor = `key:${key.id}`;
  });
  after(async () => {
    await stack?.stop();
  });
  beforeEach(() => {
    stack.model.reset();
  });

  const namespace = () => stack.temporal.options.namespace;
  const start = async (question: string, extra: Record<string, unknown> = {}) => {
    const res = await http<{ id: string }>(stack, 'POST', '/v1/runs', { body: { type: 'answer', input: { question }, ...extra } });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    return res.body.id;
  };
  const listed = async (status: string) =>
    new Set((await http<{ data: Array<{ id: string }> }>(stack, 'GET', `/v1/runs?status=${status}&limit=100`)).body.data.map((r) => r.id));
  const audit = async (id: string) => (await http<{ data: AuditBody[] }>(stack, 'GET', `/v1/runs/${id}/audit`)).body.data;
  const attemptsOf = (run: RunBody, step: string) => run.steps.find((s) => s.step === step)?.attempts ?? [];
  const historyOf = async (id: string, runId?: string) => (await stack.temporal.workflow.getHandle(id, runId).fetchHistory()).events ?? [];
  const latestExecution = async (id: string) => (await stack.temporal.workflow.getHandle(id).describe()).runId;
  const rowStatus = async (id: string) => (await stack.db.run.findUniqueOrThrow({ where: { id } })).status;

  /**
   * Waits until the list filter shows every run with `status` and each row carries Temporal's
   * close time (or, for a running run, its latest execution) — the reconciler's work, since
   * neither the list nor the database asks Temporal.
   */
  const settled = async (status: string, ids: string[]) =>
    eventually(async () => {
      const inList = await listed(status);
      for (const id of ids) {
        if (!inList.has(id)) return undefined;
        const row = await stack.db.run.findUniqueOrThrow({ where: { id } });
        const d = await stack.temporal.workflow.getHandle(id).describe();
        if (row.workflowRunId !== d.runId) return undefined;
        if (d.closeTime && row.completedAt?.getTime() !== d.closeTime.getTime()) return undefined;
        if (!d.closeTime && row.completedAt !== null) return undefined;
      }
      return true;
    }, `runs ${ids.join(', ')} to be listed as ${status}`, 60_000);

  /** What an operator sees of a run, with the acting operator's name replaced so two paths compare. */
  const outcome = async (id: string, actor: string) => {
    const run = (await http<RunBody>(stack, 'GET', `/v1/runs/${id}`)).body;
    const d = await stack.temporal.workflow.getHandle(id).describe();
    const visible: string[] = [];
    for await (const w of stack.temporal.workflow.list({ query: `WorkflowId = "${id}"` })) visible.push(w.runId);
    const events = await audit(id);
    return {
      status: run.status,
      error: run.error ? { ...run.error, ...(run.error.actor ? { actor: run.error.actor === actor ? 'ACTOR' : run.error.actor } : {}) } : null,
      result: run.result === null ? null : 'present',
      completedAtIsTemporalCloseTime: run.completedAt === (d.closeTime?.toISOString() ?? null),
      executionsAreTemporals: [...run.executions].sort().join() === [...visible].sort().join() && run.executions.at(-1) === d.runId,
      executions: run.executions.length,
      audit: events.map((e) => [e.action, e.actor === actor ? 'ACTOR' : e.actor, e.reason, e.details.action ?? e.details.step ?? null]),
    };
  };

  /** A settled run: Temporal's close time, Temporal's executions; the rest as given. */
  const expected = (o: { status: string; error?: unknown; result?: 'present'; executions?: number; audit: unknown[] }) => ({
    status: o.status,
    error: o.error ?? null,
    result: o.result ?? null,
    completedAtIsTemporalCloseTime: true,
    executionsAreTemporals: true,
    executions: o.executions ?? 1,
    audit: o.audit,
  });

  it('cancel: the row, list, error with the reason, close time, ledger and audit are the same from the API and the UI', async () => {
    stack.model.setLatency(30_000);
    const viaApi = await start('Cancel me through Keel');
    const viaUi = await start('Cancel me in the Web UI');
    await eventually(async () => (stack.model.counters().chat.inFlight === 2 ? true : undefined), 'both model calls to be in flight');

    const res = await http<{ auditEventId: string }>(stack, 'POST', `/v1/runs/${viaApi}/cancel`, { body: { reason: 'customer withdrew' } });
    assert.equal(res.status, 202);
    await ui.workflowService.requestCancelWorkflowExecution({
      namespace: namespace(), workflowExecution: { workflowId: viaUi }, identity: UI_IDENTITY, requestId: randomUUID(), reason: 'customer withdrew',
    });
    await settled('cancelled', [viaApi, viaUi]);

    const api = await outcome(viaApi, keyActor);
    assert.deepEqual(api, expected({ status: 'cancelled', error: { type: 'Cancelled', message: 'customer withdrew', step: 'generate', actor: 'ACTOR' }, audit: [['cancel', 'ACTOR', 'customer withdrew', null]] }));
    assert.deepEqual(await outcome(viaUi, `temporal:${UI_IDENTITY}`), api);
    assert.equal((await audit(viaApi))[0]?.id, res.body.auditEventId);
    for (const id of [viaApi, viaUi]) {
      // The interrupted model attempt was cancelled, not failed (written as the aborted call returns).
      const generate = await eventually(async () => {
        const run = (await http<RunBody>(stack, 'GET', `/v1/runs/${id}`)).body;
        const attempts = attemptsOf(run, 'generate');
        return attempts.every((a) => a.status !== 'started') ? attempts : undefined;
      }, 'the interrupted attempt to be recorded');
      assert.deepEqual(generate.map((a) => [a.status, a.error?.type]), [['cancelled', 'Cancelled']]);
      assert.match(generate[0]?.error?.message ?? '', /^The run was (cancelled|closed \(cancelled, terminated or reset\)) while this attempt ran$/);
    }
  });

  it('terminate: a running run and a paused one, from the API and the UI, end the same and leave needs_attention', async () => {
    stack.model.addFaults({ type: '400', count: 2, endpoint: 'chat' });
    const viaApi = await start('Terminate me through Keel', { onFailure: 'pause' });
    const viaUi = await start('Terminate me in the Web UI', { onFailure: 'pause' });
    await eventually(async () => ((await rowStatus(viaApi)) === 'needs_attention' && (await rowStatus(viaUi)) === 'needs_attention' ? true : undefined), 'both runs to pause');
    const pausedQuery = (id: string) => `WorkflowId = "${id}" AND ExecutionStatus = "Running" AND KeelStatus = "needs_attention"`;
    await eventually(async () => ((await stack.temporal.workflow.count(pausedQuery(viaUi))).count === 1 ? true : undefined), 'the paused run in the UI filter');

    assert.equal((await http(stack, 'POST', `/v1/runs/${viaApi}/terminate`, { body: { reason: 'runaway prompt' } })).status, 200);
    await ui.workflowService.terminateWorkflowExecution({ namespace: namespace(), workflowExecution: { workflowId: viaUi }, identity: UI_IDENTITY, reason: 'runaway prompt' });
    await settled('terminated', [viaApi, viaUi]);
    const needsAttention = await listed('needs_attention');
    assert.ok(!needsAttention.has(viaApi) && !needsAttention.has(viaUi), 'a terminated run is not needs_attention');
    // The README's UI filter for paused runs no longer lists it either.
    await eventually(async () => ((await stack.temporal.workflow.count(pausedQuery(viaUi))).count === 0 ? true : undefined), 'the terminated run to leave the UI filter');

    const api = await outcome(viaApi, keyActor);
    assert.deepEqual(api, expected({ status: 'terminated', error: { type: 'Terminated', message: 'runaway prompt', actor: 'ACTOR' }, audit: [['terminate', 'ACTOR', 'runaway prompt', null]] }));
    assert.deepEqual(await outcome(viaUi, `temporal:${UI_IDENTITY}`), api);
  });

  it("reset to the failed step's task: the API's retry and the UI's reset both complete the run without re-billing", async () => {
    stack.model.addFaults({ type: '400', count: 2, endpoint: 'chat' });
    const viaApi = await start('Reset me through Keel');
    const viaUi = await start('Reset me in the Web UI');
    await settled('failed', [viaApi, viaUi]);
    const firstExecution = await latestExecution(viaUi);

    assert.equal((await http(stack, 'POST', `/v1/runs/${viaApi}/retry`, { body: { reason: 'provider recovered' } })).status, 200);
    const point = findResetPoint({ events: await historyOf(viaUi) });
    assert.ok(point);
    await ui.workflowService.resetWorkflowExecution({
      namespace: namespace(), workflowExecution: { workflowId: viaUi, runId: firstExecution },
      workflowTaskFinishEventId: point.workflowTaskFinishEventId, requestId: randomUUID(), reason: `provider recovered (by ${UI_IDENTITY})`, identity: UI_IDENTITY,
    });
    await settled('completed', [viaApi, viaUi]);
    const failed = await listed('failed');
    assert.ok(!failed.has(viaApi) && !failed.has(viaUi), 'a failed run that was reset and completed is not listed as failed');

    const api = await outcome(viaApi, keyActor);
    assert.deepEqual(api, expected({ status: 'completed', result: 'present', executions: 2, audit: [['reset', 'ACTOR', 'provider recovered', 'generate']] }));
    // Temporal does not record who reset; an operator who names themselves in the reason is audited.
    assert.deepEqual(await outcome(viaUi, `temporal:${UI_IDENTITY}`), api);
    const run = (await http<RunBody>(stack, 'GET', `/v1/runs/${viaUi}`)).body;
    assert.deepEqual(attemptsOf(run, 'guardInput').map((a) => [a.status, a.workflowRunId]), [['completed', firstExecution]]);
    assert.deepEqual((await audit(viaUi))[0]?.details.rerunsCompletedSteps, []);
  });

  it('reset to the first workflow task (UI or CLI): the run completes and the re-billed steps show in ledger and audit', async () => {
    stack.model.addFaults({ type: '400', count: 1, endpoint: 'chat' });
    const id = await start('Reset me to the start');
    await settled('failed', [id]);
    const firstExecution = await latestExecution(id);
    const firstTask = (await historyOf(id)).find((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED);
    assert.ok(firstTask?.eventId);
    await ui.workflowService.resetWorkflowExecution({
      namespace: namespace(), workflowExecution: { workflowId: id, runId: firstExecution },
      workflowTaskFinishEventId: firstTask.eventId, requestId: randomUUID(), reason: 'start over', identity: UI_IDENTITY,
    });
    await settled('completed', [id]);
    // No "(by …)" in the reason: Temporal's history cannot say who it was.
    const seen = await outcome(id, 'temporal:unknown');
    assert.deepEqual(seen, expected({ status: 'completed', result: 'present', executions: 2, audit: [['reset', 'ACTOR', 'start over', 'guardInput']] }));
    const [reset] = await audit(id);
    // With the result cache (patched 'answer-cache'), its lookup is a step too; releasing its lease is bookkeeping.
    // Since 'answer-lean-v1' guardInput marks the run running (no markRunRunning step), so the reset's first step is guardInput.
    // Since 'answer-lean-v2' one activity looks up the cache and retrieves: the audit names activities, as the Web UI's history does.
    assert.deepEqual(reset?.details.rerunsCompletedSteps, ['guardInput', 'lookupAndRetrieve']);
    const run = (await http<RunBody>(stack, 'GET', `/v1/runs/${id}`)).body;
    // Billed twice, once per execution: the ledger shows both.
    assert.deepEqual(attemptsOf(run, 'guardInput').map((a) => [a.status, a.workflowRunId === firstExecution ? 'first' : 'reset']), [['completed', 'first'], ['completed', 'reset']]);
  });

  it('resume update: the API and the UI resume a paused run the same; an update naming nobody is refused', async () => {
    stack.model.addFaults({ type: '400', count: 2, endpoint: 'chat' });
    const viaApi = await start('Resume me through Keel', { onFailure: 'pause' });
    const viaUi = await start('Resume me in the Web UI', { onFailure: 'pause' });
    await eventually(async () => ((await rowStatus(viaApi)) === 'needs_attention' && (await rowStatus(viaUi)) === 'needs_attention' ? true : undefined), 'both runs to pause');
    await settled('needs_attention', [viaApi, viaUi]);

    const anonymous = ui.workflow.getHandle(viaUi).executeUpdate(resumeRunUpdate, { args: [{ action: 'retry', reason: 'no name', actor: '' }] });
    await assert.rejects(anonymous, (err) => err instanceof WorkflowUpdateFailedError && /Name yourself/.test(String((err.cause)?.message)));

    assert.equal((await http(stack, 'POST', `/v1/runs/${viaApi}/resume`, { body: { action: 'retry', reason: 'provider is back' } })).status, 200);
    await ui.workflow.getHandle(viaUi).executeUpdate(resumeRunUpdate, { args: [{ action: 'retry', reason: 'provider is back', actor: 'alice' }] });
    await settled('completed', [viaApi, viaUi]);

    const api = await outcome(viaApi, keyActor);
    assert.deepEqual(api, expected({ status: 'completed', result: 'present', audit: [['resume', 'ACTOR', 'provider is back', 'retry']] }));
    assert.deepEqual(await outcome(viaUi, `temporal:${UI_IDENTITY}`), api);
    assert.equal((await audit(viaUi))[0]?.details.claimedActor, 'alice');
  });

  it('pauses an extract run on failure too, and resumes it (one step helper for every run type)', async () => {
    stack.model.addFaults({ type: '400', count: 1, endpoint: 'chat' });
    const res = await http<{ id: string }>(stack, 'POST', '/v1/runs', {
      body: { type: 'extract', input: { text: 'Destination: Lisbon.', schema: { type: 'object', properties: { destination: { type: 'string' } } } }, onFailure: 'pause' },
    });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    await settled('needs_attention', [res.body.id]);
    assert.equal((await http(stack, 'POST', `/v1/runs/${res.body.id}/resume`, { body: { action: 'retry', reason: 'model is fixed' } })).status, 200);
    await settled('completed', [res.body.id]);
    assert.deepEqual((await outcome(res.body.id, keyActor)).audit, [['resume', 'ACTOR', 'model is fixed', 'retry']]);
  });

  it('the reconciler lists a completed run only while it is recent, and a run that ended otherwise over the whole overlap', async () => {
    const completed = await start('Complete me');
    await settled('completed', [completed]);
    stack.model.setLatency(30_000);
    const terminated = await start('Terminate me from the CLI');
    await eventually(async () => ((await rowStatus(terminated)) === 'running' ? true : undefined), 'the run to start');
    await ui.workflowService.terminateWorkflowExecution({ namespace: namespace(), workflowExecution: { workflowId: terminated }, identity: UI_IDENTITY, reason: 'not needed' });
    await settled('terminated', [terminated]);

    // The real client, watched: which executions each of the reconciler's queries returns.
    const seen = { recent: new Set<string>(), disagreeing: new Set<string>() };
    const watched = {
      workflow: {
        list: (options: { query: string }) => {
          const into = options.query.includes('!=') ? seen.disagreeing : options.query.includes('"Running"') ? undefined : seen.recent;
          const listing = stack.temporal.workflow.list(options);
          return (async function* () {
            for await (const info of listing) {
              into?.add(info.workflowId);
              yield info;
            }
          })();
        },
      },
    } as unknown as Client;
    const listedNow = async (interval: number, lookback: number) => {
      seen.recent.clear();
      seen.disagreeing.clear();
      // Its first pass looks back `lookback`; a long interval keeps a second from starting.
      const reconciler = startRunReconciler({ db: stack.db, temporal: watched, intervalMs: interval, lookbackMs: lookback });
      await reconciler.stop();
    };
    // Both closed within the last minute: the completed run comes with the recent closes, not with
    // the ones that disagree; the terminated run with both.
    await listedNow(60_000, 60_000);
    assert.ok(seen.recent.has(completed) && seen.recent.has(terminated), 'both among the recent closes');
    assert.ok(seen.disagreeing.has(terminated), 'the terminated run among the closes that disagree');
    assert.ok(!seen.disagreeing.has(completed), 'a completed run whose KeelStatus says so is not listed over the long overlap');
    // Past the recent window (one interval before the last pass), only the terminated run is listed.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    await listedNow(500, 0);
    assert.ok(!seen.recent.has(completed) && !seen.disagreeing.has(completed), 'the completed run is no longer listed');
    assert.ok(seen.disagreeing.has(terminated), 'the terminated run stays listed for the whole overlap');
  });

  it('resume on a run type or state that cannot take it answers 409, never 500', async () => {
    stack.model.setLatency(30_000);
    const extract = await http<{ id: string }>(stack, 'POST', '/v1/runs', {
      body: { type: 'extract', input: { text: 'Destination: Lisbon, 3 nights.', schema: { type: 'object', properties: { destination: { type: 'string' } } } } },
    });
    assert.equal(extract.status, 202);
    await eventually(async () => ((await rowStatus(extract.body.id)) === 'running' ? true : undefined), 'the extract run to start');
    const res = await http<{ type: string }>(stack, 'POST', `/v1/runs/${extract.body.id}/resume`, { body: { action: 'retry', reason: 'x' } });
    assert.equal(res.status, 409);
    assert.equal(res.body.type, 'https://keel.dev/problems/run-not-paused');
    assert.equal((await http(stack, 'POST', `/v1/runs/${extract.body.id}/terminate`, { body: { reason: 'test cleanup' } })).status, 200);
    const done = await http<{ type: string }>(stack, 'POST', `/v1/runs/${extract.body.id}/resume`, { body: { action: 'retry', reason: 'x' } });
    assert.equal(done.status, 409);
  });
});
