import { defaultPayloadConverter } from '@temporalio/common';
import { WorkflowFailedError } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { ENCRYPTED_ENCODING, KEY_ID_METADATA, TENANT_METADATA } from '../src/codec/aes-gcm-codec';
import { generatePayloadKeyEntry } from '../src/codec/keys';
import { generateApiKey } from '../src/auth/api-keys';
import { createApiKey } from '../src/auth/key-admin';
import { SCOPES } from '../src/auth/scopes';
import { temporalCliPath } from '../src/dev/temporal-cli';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { eventually, http, startStack, type TestStack } from './support/stack';

describe('encrypted Temporal payloads', function () {
  this.timeout(120_000);
  let stack: TestStack;
  let operatorKey: string;
  const marker = `Zebra-${randomUUID()}`;
  const question = `Is ${marker} allowed to see the payroll of jane.roe@example.com?`;

  before(async () => {
    stack = await startStack({ label: 'codec', env: { KEEL_PAYLOAD_KEYS: `${generatePayloadKeyEntry('k2')},${generatePayloadKeyEntry('k1')}` } });
    const key = generateApiKey();
    await stack.db.apiKey.create({
      data: { id: randomUUID(), tenantId: stack.tenantId, name: 'operator', prefix: key.prefix, hash: key.hash, scopes: ['operator'] },
    });
    operatorKey = key.key;
  });
  after(async () => {
    await stack?.stop();
  });

  async function runToEnd(): Promise<{ id: string; startedInput: temporal.api.common.v1.IPayload }> {
    const created = await http<{ id: string }>(stack, 'POST', '/v1/runs', { body: { type: 'answer', input: { question } } });
    assert.equal(created.status, 202);
    const id = created.body.id;
    const result: unknown = await stack.temporal.workflow.getHandle(id).result();
    // Control: the marker really went through the workflow (the offline model quotes the question).
    assert.ok(JSON.stringify(result).includes(marker));
    // A client without the codec sees the history exactly as the server stores it.
    const history = await stack.env.client.workflow.getHandle(id).fetchHistory();
    const started = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
    assert.ok(started);
    const raw = Buffer.from(temporal.api.history.v1.History.encode(history).finish());
    assert.ok(raw.length > 1000, 'the history is not empty');
    assert.equal(raw.includes(marker), false, 'the question leaked into the history in clear text');
    assert.equal(raw.includes('jane.roe@example.com'), false);
    assert.equal(raw.includes(Buffer.from(marker).toString('base64').slice(0, 16)), false);
    return { id, startedInput: started };
  }

  it('keeps user input out of the stored history, and the API still reads the result', async () => {
    const { id, startedInput } = await runToEnd();
    assert.equal(Buffer.from(startedInput.metadata!.encoding!).toString(), ENCRYPTED_ENCODING);
    assert.equal(Buffer.from(startedInput.metadata![KEY_ID_METADATA]!).toString(), 'k2');
    const run = await eventually(async () => {
      const res = await http<{ status: string; result: { answer: string } }>(stack, 'GET', `/v1/runs/${id}`);
      return res.body.status === 'completed' ? res.body : undefined;
    }, 'run to complete');
    assert.ok(run.result.answer.includes(marker));
  });

  it('keeps failure messages out of the stored history of a failed run', async () => {
    stack.model.reset();
    // A permanent 400 from the model: generate fails at once and so does the run.
    stack.model.addFaults('chat:400');
    const created = await http<{ id: string }>(stack, 'POST', '/v1/runs', { body: { type: 'answer', input: { question } }, headers: { 'cache-control': 'no-cache' } });
    assert.equal(created.status, 202);
    const id = created.body.id;
    // Control: through the codec the failure is readable, so there is a message to leak.
    const failure = await stack.temporal.workflow.getHandle(id).result().then(
      () => assert.fail('the run should have failed'),
      (err: unknown) => err,
    );
    assert.ok(failure instanceof WorkflowFailedError);
    const messages = [];
    for (let e: unknown = failure; e instanceof Error; e = e.cause) messages.push(e.message);
    assert.ok(messages.some((m) => m.includes('Model endpoint rejected the request')), messages.join(' / '));

    const history = await stack.env.client.workflow.getHandle(id).fetchHistory();
    const types = (history.events ?? []).map((e) => e.eventType);
    assert.ok(types.includes(temporal.api.enums.v1.EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED));
    assert.ok(types.includes(temporal.api.enums.v1.EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED));
    const raw = Buffer.from(temporal.api.history.v1.History.encode(history).finish());
    for (const clear of ['Model endpoint rejected', 'rejected the request', marker, 'toModelFailure', '.ts:']) {
      assert.equal(raw.includes(clear), false, `"${clear}" is in the stored history in clear text`);
    }
    // What the server does store for the failure: the encoded placeholder.
    assert.ok(raw.includes('Encoded failure'));
  });

  it('decodes for operators through the codec endpoint, and only for them', async () => {
    const { startedInput } = await runToEnd();
    const wire = {
      payloads: [
        {
          metadata: Object.fromEntries(Object.entries(startedInput.metadata!).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
          data: Buffer.from(startedInput.data!).toString('base64'),
        },
      ],
    };
    const decoded = await http<{ payloads: Array<{ metadata: Record<string, string>; data: string }> }>(stack, 'POST', '/codec/decode', {
      body: wire,
      apiKey: operatorKey,
      headers: { 'x-namespace': 'default' },
    });
    assert.equal(decoded.status, 200, JSON.stringify(decoded.body));
    const payload = decoded.body.payloads[0]!;
    const value = defaultPayloadConverter.fromPayload<{ question: string }>({
      metadata: Object.fromEntries(Object.entries(payload.metadata).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
      data: Buffer.from(payload.data, 'base64'),
    });
    assert.ok(value.question.includes(marker));

    const reEncoded = await http<{ payloads: Array<{ metadata: Record<string, string> }> }>(stack, 'POST', '/codec/encode', { body: decoded.body, apiKey: operatorKey });
    assert.equal(reEncoded.status, 200);
    assert.equal(Buffer.from(reEncoded.body.payloads[0]!.metadata.encoding!, 'base64').toString(), ENCRYPTED_ENCODING);

    const anonymous = await http<{ type: string }>(stack, 'POST', '/codec/decode', { body: wire, apiKey: null });
    assert.equal(anonymous.status, 401);
    assert.equal(anonymous.headers.get('content-type'), 'application/problem+json; charset=utf-8');
    // Every scope but `operator`: the stack's default key has them all.
    const nonOperator = await createApiKey(stack.db, stack.tenantId, 'no operator', SCOPES.filter((s) => s !== 'operator'));
    const tenantKey = await http<{ type: string; requiredScope: string }>(stack, 'POST', '/codec/decode', { body: wire, apiKey: nonOperator.key });
    assert.equal(tenantKey.status, 403);
    assert.equal(tenantKey.body.type, 'https://keel.dev/problems/insufficient-scope');
    assert.equal(tenantKey.body.requiredScope, 'operator');
    const tampered = { payloads: [{ ...wire.payloads[0]!, data: Buffer.from('x'.repeat(40)).toString('base64') }] };
    const bad = await http<{ type: string }>(stack, 'POST', '/codec/decode', { body: tampered, apiKey: operatorKey });
    assert.equal(bad.status, 422);
    const otherNamespace = await http(stack, 'POST', '/codec/decode', { body: wire, apiKey: operatorKey, headers: { 'x-namespace': 'other' } });
    assert.equal(otherNamespace.status, 400);
  });

  it("decodes for an operator only its own tenant's payloads, and encodes only for its tenant", async () => {
    const { id, startedInput } = await runToEnd();
    // Every encrypted payload the client and the workers wrote names the run's tenant.
    const history = await stack.env.client.workflow.getHandle(id).fetchHistory();
    const payloads = (history.events ?? []).flatMap((e) => [
      ...(e.workflowExecutionStartedEventAttributes?.input?.payloads ?? []),
      ...(e.activityTaskScheduledEventAttributes?.input?.payloads ?? []),
      ...(e.activityTaskCompletedEventAttributes?.result?.payloads ?? []),
      ...(e.workflowExecutionCompletedEventAttributes?.result?.payloads ?? []),
    ]);
    assert.ok(payloads.length > 5);
    for (const p of payloads) assert.equal(Buffer.from(p.metadata![TENANT_METADATA]!).toString(), stack.tenantId);

    const other = await stack.addTenant('other-operator', ['operator']);
    const wire = {
      payloads: [
        {
          metadata: Object.fromEntries(Object.entries(startedInput.metadata!).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
          data: Buffer.from(startedInput.data!).toString('base64'),
        },
      ],
    };
    const foreign = await http<{ payloads: Array<{ metadata: Record<string, string>; data: string }> }>(stack, 'POST', '/codec/decode', { body: wire, apiKey: other.apiKey });
    assert.equal(foreign.status, 200);
    assert.deepEqual(foreign.body.payloads[0], wire.payloads[0], "another tenant's payload comes back still sealed");
    assert.ok(!Buffer.from(foreign.body.payloads[0]!.data, 'base64').toString('utf8').includes(marker));

    // What the other tenant encodes is bound to it: this tenant's operator cannot open it, it can.
    const plain = { payloads: [{ metadata: { encoding: Buffer.from('json/plain').toString('base64') }, data: Buffer.from(JSON.stringify(marker)).toString('base64') }] };
    const sealed = await http<{ payloads: Array<{ metadata: Record<string, string>; data: string }> }>(stack, 'POST', '/codec/encode', { body: plain, apiKey: other.apiKey });
    assert.equal(sealed.status, 200);
    assert.equal(Buffer.from(sealed.body.payloads[0]!.metadata[TENANT_METADATA]!, 'base64').toString(), other.tenantId);
    const mine = await http<{ payloads: Array<{ data: string }> }>(stack, 'POST', '/codec/decode', { body: sealed.body, apiKey: operatorKey });
    assert.deepEqual(mine.body.payloads[0], sealed.body.payloads[0]);
    const theirs = await http<{ payloads: Array<{ data: string }> }>(stack, 'POST', '/codec/decode', { body: sealed.body, apiKey: other.apiKey });
    assert.equal(Buffer.from(theirs.body.payloads[0]!.data, 'base64').toString(), JSON.stringify(marker));

    // Relabelling a payload with the caller's tenant does not open it: the tenant is authenticated.
    const relabelled = { payloads: [{ ...wire.payloads[0]!, metadata: { ...wire.payloads[0]!.metadata, [TENANT_METADATA]: Buffer.from(other.tenantId).toString('base64') } }] };
    const forged = await http<{ type: string }>(stack, 'POST', '/codec/decode', { body: relabelled, apiKey: other.apiKey });
    assert.equal(forged.status, 422);
  });

  it("lets Temporal's own CLI show decrypted history through the endpoint", async () => {
    const { id } = await runToEnd();
    const show = (auth: string[]) =>
      promisify(execFile)(
        temporalCliPath(),
        ['workflow', 'show', '--address', stack.env.address, '--workflow-id', id, '--output', 'json', '--codec-endpoint', `${stack.baseUrl}/codec`, ...auth],
        { maxBuffer: 10 * 1024 * 1024 },
      );
    const decoded = await show(['--codec-auth', `Bearer ${operatorKey}`]);
    const startedInput = (stdout: string) => {
      const history = JSON.parse(stdout) as { events: Array<{ workflowExecutionStartedEventAttributes?: { input: { payloads: Array<{ data: string }> } } }> };
      return Buffer.from(history.events[0]!.workflowExecutionStartedEventAttributes!.input.payloads[0]!.data, 'base64').toString('utf8');
    };
    assert.ok(startedInput(decoded.stdout).includes(marker), 'the operator sees the question');
  });

  it("answers the Web UI's CORS preflight for its origin only", async () => {
    const preflight = (origin: string) =>
      fetch(`${stack.baseUrl}/codec/decode`, {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type,x-namespace' },
      });
    const ui = await preflight('http://localhost:8233');
    assert.equal(ui.status, 204);
    assert.equal(ui.headers.get('access-control-allow-origin'), 'http://localhost:8233');
    assert.equal(ui.headers.get('access-control-allow-credentials'), 'true');
    assert.match(ui.headers.get('access-control-allow-headers') ?? '', /Authorization/);
    const other = await preflight('https://evil.example');
    assert.equal(other.headers.get('access-control-allow-origin'), null);
  });
});
