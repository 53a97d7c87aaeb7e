import assert from 'node:assert/strict';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER } from '../src/activities/alerts';
import { SearchAttr } from '../src/shared';
import { recordHistory } from './support/histories';
import { eventually, http, startStack, type TestStack } from './support/stack';

interface Attempt {
  attempt: number;
  status: string;
  startedAt: string;
  endedAt: string | null;
  workflowRunId: string;
  tokensIn: number | null;
}
interface RunBody {
  id: string;
  status: string;
  result: { answer: string } | null;
  error: { type: string; message: string; step?: string } | null;
  steps: Array<{ step: string; attempts: Attempt[] }>;
  executions: string[];
}
interface ActionBody {
  id: string;
  action: string;
  status: string;
  workflowRunId: string | null;
  auditEventId: string;
}
interface Alert {
  body: string;
  headers: Record<string, string | string[] | undefined>;
}

const WEBHOOK_SECRET = 'operator-test-webhook-secret';
const finished = new Set(['completed', 'failed', 'cancelled', 'terminated', 'timed_out']);

function startWebhook(): Promise<{ server: Server; url: string; received: Alert[] }> {
  const received: Alert[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      received.push({ body, headers: req.headers });
      res.writeHead(204).end();
    });
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({ server, url: `http://127.0.0.1:${port}/keel-alerts`, received });
    });
  });
}

function signatureValid(alert: Alert): boolean {
  const timestamp = String(alert.headers[TIMESTAMP_HEADER]);
  const expected = Buffer.from(`sha256=${createHmac('sha256', WEBHOOK_SECRET).update(`${timestamp}.${alert.body}`).digest('hex')}`);
  const given = Buffer.from(String(alert.headers[SIGNATURE_HEADER]));
  return given.length === expected.length && timingSafeEqual(given, expected);
}

describe('operators: cancel, terminate, retry, pause and resume, idempotency', function () {
  this.timeout(120_000);
  let stack: TestStack;
  let webhook: Awaited<ReturnType<typeof startWebhook>>;

  const getRun = async (id: string) => (await http<RunBody>(stack, 'GET', `/v1/runs/${id}`)).body;
  const waitForStatus = (id: string, status: string | ((s: string) => boolean), timeoutMs = 40_000) =>
    eventually(async () => {
      const run = await getRun(id);
      const ok = typeof status === 'string' ? run.status === status : status(run.status);
      return ok ? run : undefined;
    }, `run ${id} to be ${String(status)}`, timeoutMs);
  const startRun = async (question: string, extra: Record<string, unknown> = {}, headers: Record<string, string> = {}) => {
    const res = await http<{ id: string }>(stack, 'POST', '/v1/runs', { body: { type: 'answer', input: { question }, ...extra }, headers });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    return res.body.id;
  };
  const attemptsOf = (run: RunBody, step: string) => run.steps.find((s) => s.step === step)?.attempts ?? [];
  const audit = async (id: string) =>
    (await http<{ data: Array<{ id: string; action: string; actor: string; reason: string | null; details: Record<string, unknown> }> }>(stack, 'GET', `/v1/runs/${id}/audit`)).body.data;
  const actor = async () => {
    const key = await stack.db.apiKey.findFirstOrThrow({ where: { tenantId: stack.tenantId } });
    return `key:${key.id}`;
  };

  before(async () => {
    webhook = await startWebhook();
    stack = await startStack({ label: 'operator', env: { KEEL_ALERT_WEBHOOK_URL: webhook.url, KEEL_ALERT_WEBHOOK_SECRET: WEBHOOK_SECRET } });
  });
  after(async () => {
    await stack?.stop();
    webhook?.server.close();
  });
  beforeEach(() => {
    stack.model.reset();
    webhook.received.length = 0;
  });

  it('cancels during a long model call within 3 s: the HTTP call is aborted and cleanup runs', async () => {
    stack.model.setLatency(30_000);
    const id = await startRun('Will this be cancelled?');
    await eventually(async () => (stack.model.counters().chat.inFlight === 1 ? true : undefined), 'the model call to be in flight');

    const startedAt = Date.now();
    const cancel = await http<ActionBody>(stack, 'POST', `/v1/runs/${id}/cancel`, { body: { reason: 'customer withdrew the question' } });
    assert.equal(cancel.status, 202, JSON.stringify(cancel.body));
    assert.equal(cancel.body.action, 'cancel');
    const run = await waitForStatus(id, 'cancelled', 3_000);
    assert.ok(Date.now() - startedAt < 3_000);

    assert.equal(run.error?.step, 'generate');
    await eventually(async () => (stack.model.counters().chat.aborted === 1 ? true : undefined), 'the model HTTP call to be aborted');
    assert.equal(stack.model.counters().chat.completed, 0);
    const handle = stack.temporal.workflow.getHandle(id);
    const description = await eventually(async () => {
      const d = await handle.describe();
      return d.status.name === 'CANCELLED' ? d : undefined;
    }, 'the workflow to close as cancelled');
    assert.equal(description.typedSearchAttributes.get(SearchAttr.status), 'cancelled');
    const events = await audit(id);
    assert.deepEqual(events.map((e) => [e.action, e.actor, e.reason]), [['cancel', await actor(), 'customer withdrew the question']]);
    await recordHistory('cancelled', handle);

    const again = await http(stack, 'POST', `/v1/runs/${id}/cancel`);
    assert.equal(again.status, 409);
    assert.equal(again.headers.get('content-type'), 'application/problem+json; charset=utf-8');
  });

  it('terminates a run with a reason; a finished run cannot be terminated again', async () => {
    stack.model.setLatency(30_000);
    const id = await startRun('Will this be terminated?');
    await eventually(async () => (stack.model.counters().chat.inFlight === 1 ? true : undefined), 'the model call to be in flight');
    const noReason = await http(stack, 'POST', `/v1/runs/${id}/terminate`, { body: {} });
    assert.equal(noReason.status, 400);

    const res = await http<ActionBody>(stack, 'POST', `/v1/runs/${id}/terminate`, { body: { reason: 'runaway prompt' } });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.status, 'terminated');
    const run = await getRun(id);
    assert.equal(run.status, 'terminated');
    assert.deepEqual(run.error, { type: 'Terminated', message: 'runaway prompt', actor: await actor() });
    const description = await stack.temporal.workflow.getHandle(id).describe();
    assert.equal(description.status.name, 'TERMINATED');
    assert.equal((await http(stack, 'POST', `/v1/runs/${id}/terminate`, { body: { reason: 'twice' } })).status, 409);
    assert.deepEqual((await audit(id)).map((e) => e.action), ['terminate']);
  });

  it('fails after the model 500s beyond the retry limit; retry re-runs only the failed step', async () => {
    stack.model.addFaults({ type: '500', count: 5, endpoint: 'chat' });
    const id = await startRun('Does a retry re-run finished steps?');
    const failed = await waitForStatus(id, 'failed');
    assert.equal(failed.error?.step, 'generate');
    assert.equal(failed.error?.type, 'ModelServerError');
    assert.equal(attemptsOf(failed, 'generate').length, 5);
    const firstExecution = attemptsOf(failed, 'guardInput')[0]?.workflowRunId;
    assert.ok(firstExecution);

    const res = await http<ActionBody>(stack, 'POST', `/v1/runs/${id}/retry`, { body: { reason: 'provider recovered' } });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.status, 'running');
    assert.ok(res.body.workflowRunId && res.body.workflowRunId !== firstExecution);

    const run = await waitForStatus(id, 'completed');
    assert.ok(run.result?.answer);
    // guardInput replayed from history: one attempt, in the first execution.
    assert.deepEqual(attemptsOf(run, 'guardInput').map((a) => [a.status, a.workflowRunId]), [['completed', firstExecution]]);
    const generate = attemptsOf(run, 'generate');
    assert.deepEqual(
      generate.map((a) => [a.workflowRunId === firstExecution ? 'first' : 'reset', a.attempt, a.status]),
      [['first', 1, 'failed'], ['first', 2, 'failed'], ['first', 3, 'failed'], ['first', 4, 'failed'], ['first', 5, 'failed'], ['reset', 1, 'completed']],
    );
    assert.equal(generate.at(-1)?.workflowRunId, res.body.workflowRunId);
    assert.deepEqual(attemptsOf(run, 'storeResult').map((a) => a.status), ['completed']);
    assert.deepEqual(run.executions, [firstExecution, res.body.workflowRunId]);
    const counters = stack.model.counters().chat;
    assert.equal(counters.completed, 1);
    assert.equal(counters.faulted, 5);

    const row = await stack.db.run.findUniqueOrThrow({ where: { id } });
    assert.equal(row.workflowRunId, res.body.workflowRunId);
    const [event] = await audit(id);
    assert.equal(event?.action, 'reset');
    assert.equal(event?.actor, await actor());
    assert.equal(event?.id, res.body.auditEventId);
    assert.deepEqual(event?.details.rerunsCompletedSteps, []);
    assert.equal(event?.reason, 'provider recovered');
    assert.equal(event?.details.fromWorkflowRunId, firstExecution);
    assert.equal(event?.details.step, 'generate');
    await recordHistory('failed-and-retried', stack.temporal.workflow.getHandle(id, res.body.workflowRunId ?? undefined));

    const again = await http(stack, 'POST', `/v1/runs/${id}/retry`);
    assert.equal(again.status, 409);
  });

  it('pauses on failure as needs_attention, signs the alert, and resumes with retry', async () => {
    stack.model.addFaults({ type: '500', count: 5, endpoint: 'chat' });
    const id = await startRun('Who hears about a paused run?', { onFailure: 'pause' });
    const paused = await waitForStatus(id, 'needs_attention');
    assert.equal(paused.error?.step, 'generate');
    assert.equal(paused.error?.type, 'ModelServerError');
    const handle = stack.temporal.workflow.getHandle(id);
    await eventually(async () => ((await handle.describe()).typedSearchAttributes.get(SearchAttr.status) === 'needs_attention' ? true : undefined), 'KeelStatus to be needs_attention');

    const alert = await eventually(async () => webhook.received[0], 'the alert webhook to be called');
    assert.ok(signatureValid(alert), 'the alert carries a valid HMAC signature');
    assert.deepEqual(JSON.parse(alert.body), { event: 'run.needs_attention', runId: id, tenantId: stack.tenantId, step: 'generate', error: paused.error });

    const skip = await http<{ type: string }>(stack, 'POST', `/v1/runs/${id}/resume`, { body: { action: 'skip', reason: 'not needed' } });
    assert.equal(skip.status, 409);
    assert.equal(skip.body.type, 'https://keel.dev/problems/step-not-optional');
    const bad = await http(stack, 'POST', `/v1/runs/${id}/resume`, { body: { action: 'later', reason: 'x' } });
    assert.equal(bad.status, 400);

    const res = await http<ActionBody>(stack, 'POST', `/v1/runs/${id}/resume`, { body: { action: 'retry', reason: 'provider is back' } });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const run = await waitForStatus(id, 'completed');
    assert.equal(run.error, null);
    assert.deepEqual(attemptsOf(run, 'guardInput').map((a) => a.status), ['completed']);
    assert.deepEqual(attemptsOf(run, 'generate').map((a) => [a.attempt, a.status]), [[1, 'failed'], [2, 'failed'], [3, 'failed'], [4, 'failed'], [5, 'failed'], [1, 'completed']]);
    assert.equal(stack.model.counters().chat.completed, 1);
    assert.deepEqual((await audit(id)).map((e) => [e.action, e.reason, e.details.action]), [['resume', 'provider is back', 'retry']]);
    await recordHistory('paused-and-resumed', handle);

    const late = await http<{ type: string }>(stack, 'POST', `/v1/runs/${id}/resume`, { body: { action: 'retry', reason: 'again' } });
    assert.equal(late.status, 409);
  });

  it('aborts a paused run with the operator reason', async () => {
    stack.model.addFaults({ type: '400', count: 1, endpoint: 'chat' });
    const id = await startRun('Abort me', { onFailure: 'pause' });
    await waitForStatus(id, 'needs_attention');
    const res = await http<ActionBody>(stack, 'POST', `/v1/runs/${id}/resume`, { body: { action: 'abort', reason: 'question is out of scope' } });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const run = await waitForStatus(id, 'failed');
    assert.equal(run.error?.type, 'OperatorAborted');
    assert.equal(run.error?.step, 'generate');
    assert.match(run.error?.message ?? '', /question is out of scope/);
  });

  it('cancels a paused run: the wait ends and cleanup records cancelled', async () => {
    stack.model.addFaults({ type: '400', count: 1, endpoint: 'chat' });
    const id = await startRun('Cancel me while paused', { onFailure: 'pause' });
    await waitForStatus(id, 'needs_attention');
    const res = await http(stack, 'POST', `/v1/runs/${id}/cancel`, { body: { reason: 'nobody needs this answer' } });
    assert.equal(res.status, 202);
    const run = await waitForStatus(id, 'cancelled');
    assert.equal(run.error?.step, 'generate');
    assert.equal(stack.model.counters().chat.completed, 0);
  });

  it("pauses under the tenant's onFailure policy when the request names none", async () => {
    const tenant = await stack.addTenant('pausing-tenant');
    await stack.db.tenant.update({ where: { id: tenant.tenantId }, data: { onFailure: 'pause' } });
    const asTenant = { baseUrl: stack.baseUrl, apiKey: tenant.apiKey };
    stack.model.addFaults({ type: '400', count: 1, endpoint: 'chat' });
    const created = await http<{ id: string }>(asTenant, 'POST', '/v1/runs', { body: { type: 'answer', input: { question: 'Tenant policy?' } } });
    assert.equal(created.status, 202);
    const paused = await eventually(async () => {
      const run = (await http<RunBody>(asTenant, 'GET', `/v1/runs/${created.body.id}`)).body;
      return run.status === 'needs_attention' ? run : undefined;
    }, 'the run to pause');
    assert.equal(paused.error?.type, 'ModelRequestRejected');
    const resumed = await http(asTenant, 'POST', `/v1/runs/${created.body.id}/resume`, { body: { action: 'retry', reason: 'fixed the prompt' } });
    assert.equal(resumed.status, 200);
    await eventually(async () => ((await http<RunBody>(asTenant, 'GET', `/v1/runs/${created.body.id}`)).body.status === 'completed' ? true : undefined), 'the run to complete');
  });

  it('refuses a resume for a run that is not paused and a retry for one that did not fail', async () => {
    stack.model.setLatency(30_000);
    const id = await startRun('Not paused');
    await eventually(async () => (stack.model.counters().chat.inFlight === 1 ? true : undefined), 'the model call to be in flight');
    const resume = await http<{ type: string }>(stack, 'POST', `/v1/runs/${id}/resume`, { body: { action: 'retry', reason: 'x' } });
    assert.equal(resume.status, 409);
    assert.equal(resume.body.type, 'https://keel.dev/problems/run-not-paused');
    const retry = await http<{ type: string }>(stack, 'POST', `/v1/runs/${id}/retry`);
    assert.equal(retry.status, 409);
    assert.equal(retry.body.type, 'https://keel.dev/problems/run-not-retryable');
    assert.deepEqual(await audit(id), []);
    const other = await stack.addTenant('operator-other');
    const asOther = await http({ baseUrl: stack.baseUrl, apiKey: other.apiKey }, 'POST', `/v1/runs/${id}/cancel`);
    assert.equal(asOther.status, 404);
    assert.equal((await http(stack, 'POST', `/v1/runs/${id}/terminate`, { body: { reason: 'test cleanup' } })).status, 200);
  });

  it('turns 50 concurrent POSTs with one Idempotency-Key into exactly one workflow', async () => {
    const body = { type: 'answer', input: { question: 'Exactly once?' } };
    const headers = { 'idempotency-key': `op-test-${Date.now()}` };
    const responses = await Promise.all(Array.from({ length: 50 }, () => http<{ id: string }>(stack, 'POST', '/v1/runs', { body, headers })));
    const statuses = responses.map((r) => r.status).sort();
    assert.deepEqual(statuses, [...Array.from({ length: 49 }, () => 200), 202].sort());
    const ids = new Set(responses.map((r) => r.body.id));
    assert.equal(ids.size, 1);
    const [id] = [...ids] as [string];

    const run = await waitForStatus(id, 'completed');
    assert.equal(attemptsOf(run, 'generate').length, 1);
    assert.equal(stack.model.counters().chat.completed, 1);
    assert.equal(await stack.db.run.count({ where: { tenantId: stack.tenantId, idempotencyKey: headers['idempotency-key'] } }), 1);
    const executions = await eventually(async () => {
      const count = await stack.temporal.workflow.count(`WorkflowId = "${id}"`);
      return count.count >= 1 ? count.count : undefined;
    }, 'the workflow to be visible');
    assert.equal(executions, 1);
    await recordHistory('normal', stack.temporal.workflow.getHandle(id));

    const replay = await http<{ id: string; status: string }>(stack, 'POST', '/v1/runs', { body, headers });
    assert.equal(replay.status, 200);
    assert.deepEqual([replay.body.id, replay.body.status], [id, 'completed']);
    const different = await http<{ type: string }>(stack, 'POST', '/v1/runs', { body: { ...body, input: { question: 'Something else' } }, headers });
    assert.equal(different.status, 409);
    assert.equal(different.body.type, 'https://keel.dev/problems/idempotency-key-reused');
    const malformed = await http(stack, 'POST', '/v1/runs', { body, headers: { 'idempotency-key': 'has space' } });
    assert.equal(malformed.status, 400);
    assert.equal(await stack.db.run.count({ where: { tenantId: stack.tenantId, input: { equals: { question: 'Something else' } } } }), 0);
  });

  it('waits out 429 Retry-After: 2 three times, at least 2 s before each retry', async () => {
    stack.model.addFaults('chat:429x3@2');
    const id = await startRun('Rate limited?');
    const run = await waitForStatus(id, 'completed');
    const generate = attemptsOf(run, 'generate');
    assert.deepEqual(generate.map((a) => [a.attempt, a.status]), [[1, 'failed'], [2, 'failed'], [3, 'failed'], [4, 'completed']]);
    for (let i = 1; i < generate.length; i++) {
      const waited = Date.parse(generate[i]!.startedAt) - Date.parse(generate[i - 1]!.endedAt!);
      assert.ok(waited >= 2_000, `attempt ${i + 1} started ${waited} ms after attempt ${i} failed`);
    }
    assert.deepEqual([stack.model.counters().chat.faulted, stack.model.counters().chat.completed], [3, 1]);
    assert.equal(generate.filter((a) => a.tokensIn !== null).length, 1);
  });

  it('reconciles a stale row from Temporal when a status write was lost', async () => {
    const id = await startRun('Lost write?');
    await stack.temporal.workflow.getHandle(id).result();
    // What a worker dying between the step and its status write leaves behind.
    await stack.db.$executeRaw`UPDATE run SET status = 'running', result = NULL, completed_at = NULL, updated_at = now() - interval '1 minute' WHERE id = ${id}`;
    const run = await getRun(id);
    assert.equal(run.status, 'completed');
    assert.ok(run.result?.answer);
  });

  it('keeps the audit trail append-only', async () => {
    const id = await startRun('Audit me');
    await waitForStatus(id, (s) => finished.has(s));
    await stack.db.auditEvent.create({ data: { id: crypto.randomUUID(), tenantId: stack.tenantId, runId: id, action: 'cancel', actor: 'test' } });
    await assert.rejects(stack.db.$executeRaw`UPDATE audit_event SET reason = 'rewritten' WHERE run_id = ${id}`, /append-only/);
  });
});
