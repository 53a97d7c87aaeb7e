/**
 * Horizontal scaling and shutdown, with real processes: 2 API and 2 worker processes against
 * one Temporal server, one database and the offline model server. 200 runs go round-robin to
 * both APIs; one worker is SIGKILLed midway; every run completes, both workers did work and no
 * run's model step is billed twice. The same processes then show their metrics and shut down
 * gracefully on SIGTERM.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { generatePayloadKeyEntry } from '../../src/codec/keys';
import type { Db } from '../../src/db/client';
import type { ModelServer } from '../../src/model-server/server';
import { freePort, logLines, stopAll, waitForLog, type KeelProcess } from '../support/processes';
import { eventually, http, startStack, type TestStack } from '../support/stack';

const RUNS = 200;

interface WorkerProcess extends KeelProcess {
  metricsUrl: string;
}

describe('horizontal scaling: 2 APIs, 2 workers, one SIGKILLed midway', function () {
  this.timeout(240_000);
  let stack: TestStack;
  let model: ModelServer;
  let db: Db;
  let apiKey: string;
  let commonEnv: Record<string, string>;
  const metricsToken = 'scrape-token-0123456789abcdef';
  const apis: Array<KeelProcess & { baseUrl: string }> = [];
  const workers: WorkerProcess[] = [];
  const all = () => [...apis, ...workers];

  async function startWorker(name: string): Promise<WorkerProcess> {
    const port = await freePort();
    const worker = await stack.spawnWorker(name, {
      KEEL_WORKER_METRICS_PORT: String(port),
      KEEL_TEMPORAL_METRICS_PORT: String(await freePort()),
      KEEL_WORKER_SHUTDOWN_GRACE_MS: '20000',
    });
    return Object.assign(worker, { metricsUrl: `http://127.0.0.1:${port}/metrics` });
  }

  before(async () => {
    // No in-process workers: the work is done by worker processes, the requests go to API processes.
    stack = await startStack({
      label: 'scale',
      workers: false,
      env: {
        OPENAI_API_KEY: 'test-model-key-must-not-be-logged',
        KEEL_PAYLOAD_KEYS: generatePayloadKeyEntry('scale'),
        KEEL_METRICS_TOKEN: metricsToken,
        KEEL_WORKER_MAX_CONCURRENT_ACTIVITIES: '20',
        // All runs go in at once from one tenant: this proves scaling and crash recovery, not the
        // per-tenant rate and in-flight limits (test/limits.test.ts), which would refuse most of them.
        KEEL_MAX_INFLIGHT_RUNS_PER_TENANT: String(RUNS * 10),
        KEEL_RATE_LIMIT_PER_MINUTE: '100000',
      },
    });
    ({ model, db, apiKey } = stack);
    model.setLatency(20);
    commonEnv = stack.processEnv();
    apis.push(...(await Promise.all([0, 1].map((i) => stack.spawnApi(`api-${i}`, { KEEL_API_SHUTDOWN_GRACE_MS: '20000' })))));
    workers.push(...(await Promise.all([startWorker('worker-0'), startWorker('worker-1')])));
  });

  after(async () => {
    await stopAll(all());
    await stack?.stop();
  });

  const asApi = (i: number) => ({ baseUrl: apis[i % apis.length]!.baseUrl, apiKey });

  async function scrape(url: string, token: string | null = metricsToken): Promise<{ status: number; text: string }> {
    const res = await fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {} });
    return { status: res.status, text: await res.text() };
  }

  /** Sum of a metric's samples whose labels include all of `labels`. */
  function sample(text: string, name: string, labels: Record<string, string> = {}): number {
    let total = 0;
    for (const line of text.split('\n')) {
      if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
      if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) total += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
    return total;
  }

  async function submit(from: number, to: number): Promise<string[]> {
    const ids: string[] = [];
    for (let start = from; start < to; start += 20) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(20, to - start) }, (_, k) => start + k).map(async (i) => {
          const res = await http<{ id: string }>(asApi(i), 'POST', '/v1/runs', { body: { type: 'answer', input: { question: `Scale question ${i}` } } });
          assert.equal(res.status, 202, JSON.stringify(res.body));
          return res.body.id;
        }),
      );
      ids.push(...batch);
    }
    return ids;
  }

  it('completes 200 runs sent to both APIs although a worker is SIGKILLed midway, billing no step twice', async () => {
    const [victim, survivor] = workers as [WorkerProcess, WorkerProcess];
    const ids = await submit(0, RUNS / 2);
    // Midway: both workers have run model calls and some runs are done, half are not even sent.
    await eventually(async () => {
      const counts = await Promise.all(workers.map(async (w) => sample((await scrape(w.metricsUrl)).text, 'keel_step_duration_seconds_count', { step: 'generate' })));
      const completed = await db.run.count({ where: { status: 'completed' } });
      return counts.every((c) => c > 0) && completed >= 20 ? counts : undefined;
    }, 'both workers to run model calls');
    victim.proc.kill('SIGKILL');
    assert.deepEqual(await victim.exited, { code: null, signal: 'SIGKILL' });
    const completedAtKill = await db.run.count({ where: { status: 'completed' } });
    assert.ok(completedAtKill > 0 && completedAtKill < RUNS / 2, `${completedAtKill} runs had completed before the kill`);
    ids.push(...(await submit(RUNS / 2, RUNS)));

    await eventually(async () => ((await db.run.count({ where: { status: 'completed' } })) === RUNS ? true : undefined), 'all runs to complete', 150_000);
    const runs = await db.run.findMany({ select: { id: true, status: true } });
    assert.deepEqual(new Set(runs.map((r) => r.id)), new Set(ids));
    assert.ok(runs.every((r) => r.status === 'completed'));

    // Billed twice = two completed model calls recorded for one run.
    const generate = await db.runStep.groupBy({ by: ['runId'], where: { step: 'generate', status: 'completed' }, _count: { _all: true } });
    assert.equal(generate.length, RUNS);
    assert.deepEqual(generate.filter((g) => g._count._all !== 1), []);
    const stored = await db.runStep.groupBy({ by: ['runId'], where: { step: 'storeResult', status: 'completed' }, _count: { _all: true } });
    assert.deepEqual(stored.filter((g) => g._count._all !== 1), []);
    // The model server completed one call per run, plus at most the calls the dead worker had in flight.
    const abandoned = await db.runStep.count({ where: { step: 'generate', status: 'started' } });
    assert.ok(model.counters().chat.completed >= RUNS && model.counters().chat.completed <= RUNS + abandoned);

    // Who did the work, from Temporal's own record: the identity on every started activity.
    const identities = new Map<string, number>();
    for (const id of ids) {
      const history = await stack.env.client.workflow.getHandle(id).fetchHistory();
      for (const e of history.events ?? []) {
        const identity = e.activityTaskStartedEventAttributes?.identity;
        if (identity) identities.set(identity, (identities.get(identity) ?? 0) + 1);
      }
    }
    const byPid = (w: KeelProcess) => [...identities].filter(([identity]) => identity.startsWith(`${w.pid}@`)).reduce((n, [, c]) => n + c, 0);
    assert.ok(byPid(victim) > 0, `the killed worker did no work: ${JSON.stringify([...identities])}`);
    assert.ok(byPid(survivor) > 0);
    assert.equal(byPid(victim) + byPid(survivor), [...identities.values()].reduce((a, b) => a + b, 0));
    console.log(
      `      scale: ${RUNS} runs, ${completedAtKill} completed at the kill; activity attempts victim=${byPid(victim)} survivor=${byPid(survivor)}; ` +
        `model calls completed=${model.counters().chat.completed}; generate attempts abandoned by the kill=${abandoned}`,
    );
  });

  it('exposes metrics without tenant data: API behind a token, worker with the Temporal SDK metrics', async () => {
    const denied = await scrape(`${apis[0]!.baseUrl}/metrics`, null);
    assert.equal(denied.status, 401);
    const api = (await Promise.all(apis.map((a) => scrape(`${a.baseUrl}/metrics`)))).map((r) => r.text);
    const started = api.reduce((n, t) => n + sample(t, 'keel_runs_started_total', { type: 'answer' }), 0);
    assert.equal(started, RUNS);
    assert.ok(api.every((t) => sample(t, 'keel_http_request_duration_seconds_count', { method: 'POST', route: '/v1/runs', status: '202' }) > 0));

    const worker = (await scrape(workers[1]!.metricsUrl)).text;
    assert.ok(sample(worker, 'keel_runs_finished_total', { type: 'answer', status: 'completed' }) > 0);
    assert.ok(sample(worker, 'keel_model_tokens_total', { model: 'keel-offline-1', direction: 'input' }) > 0);
    assert.ok(sample(worker, 'keel_guardrail_decisions_total', { guardrail: 'sanitize', decision: 'pass' }) > 0);
    // guardOutput: the step that ends an answer run (answer-lean-v4), so it ran on every worker that completed one.
    assert.ok(sample(worker, 'keel_step_duration_seconds_count', { step: 'guardOutput', outcome: 'completed' }) > 0);
    assert.match(worker, /^temporal_\w+/m, 'the Temporal SDK metrics are merged in');
    assert.ok(sample(worker, 'temporal_activity_execution_latency_count') > 0 || sample(worker, 'temporal_activity_execution_latency_seconds_count') > 0, 'SDK activity latency');

    const runIds = (await db.run.findMany({ select: { id: true, tenantId: true }, take: 5 })).flatMap((r) => [r.id, r.tenantId]);
    for (const text of [...api, worker]) for (const id of runIds) assert.equal(text.includes(id), false, 'metrics carry no tenant or run ids');
  });

  it('API: SIGTERM refuses new connections and still answers the request in flight', async () => {
    const api = apis[1]!;
    const body = JSON.stringify({ type: 'answer', input: { question: 'Sent across a shutdown' } });
    const response = new Promise<{ status: number; body: string }>((resolve, reject) => {
      // `Expect: 100-continue` makes the server say when it holds the request: that is the
      // in-flight moment to stop the API, with the body still to come.
      const req = request(`${api.baseUrl}/v1/runs`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${apiKey}`,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          expect: '100-continue',
        },
      });
      req.on('response', (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      });
      req.on('error', reject);
      req.once('continue', () => {
        api.proc.kill('SIGTERM');
        eventually(async () => {
          try {
            await fetch(`${api.baseUrl}/healthz`);
            return undefined;
          } catch (err) {
            return (err as { cause?: { code?: string } }).cause?.code === 'ECONNREFUSED' ? true : undefined;
          }
        }, 'the API to refuse new connections').then(() => req.end(body), reject);
      });
      req.flushHeaders();
    });
    const answered = await response;
    assert.equal(answered.status, 202, answered.body);
    const { id } = JSON.parse(answered.body) as { id: string };
    assert.deepEqual(await api.exited, { code: 0, signal: null });
    assert.ok(await db.run.findUnique({ where: { id } }));
    await waitForLog(api, 'api stopped');
  });

  it('worker: SIGTERM stops polling and lets the running model call finish', async () => {
    const worker = workers[1]!;
    model.setLatency(3000);
    const created = await http<{ id: string }>(asApi(0), 'POST', '/v1/runs', { body: { type: 'answer', input: { question: 'Finish me during shutdown' } } });
    assert.equal(created.status, 202);
    const id = created.body.id;
    await eventually(async () => ((await db.runStep.findFirst({ where: { runId: id, step: 'generate', status: 'started' } })) ? true : undefined), 'the model call to start');
    const before = model.counters().chat.completed;
    worker.proc.kill('SIGTERM');
    assert.deepEqual(await worker.exited, { code: 0, signal: null });
    const steps = await db.runStep.findMany({ where: { runId: id, step: 'generate' } });
    assert.deepEqual(steps.map((s) => [s.attempt, s.status]), [[1, 'completed']]);
    assert.equal(model.counters().chat.completed, before + 1);

    // A new worker picks the run up after the step that finished: the model is not called again.
    model.setLatency(0);
    workers.push(await startWorker('worker-2'));
    await eventually(async () => ((await db.run.findUnique({ where: { id } }))?.status === 'completed' ? true : undefined), 'the run to complete');
    assert.equal(await db.runStep.count({ where: { runId: id, step: 'generate' } }), 1);
    assert.equal(model.counters().chat.completed, before + 1);
  });

  it('logs JSON with request ids and never a secret or the question text', async () => {
    const lines: Array<Record<string, unknown>> = all().flatMap((p) => logLines(p));
    const requests = lines.filter((l) => l.msg === 'request completed');
    assert.ok(requests.length >= RUNS);
    assert.ok(requests.every((l) => typeof (l.req as { id?: unknown }).id === 'string'));
    assert.ok(requests.some((l) => typeof l.tenant === 'string'));
    const created = requests.filter((l) => (l.req as { method?: string }).method === 'POST' && (l.res as { statusCode?: number }).statusCode === 202);
    assert.ok(created.length >= RUNS && created.every((l) => typeof l.runId === 'string' && l.workflowId === l.runId));
    const everything = all().map((p) => p.output()).join('\n');
    for (const secret of [apiKey, commonEnv.OPENAI_API_KEY!, commonEnv.KEEL_PAYLOAD_KEYS!.split(':')[1]!, metricsToken, 'Scale question 1', 'Finish me during shutdown']) {
      assert.equal(everything.includes(secret), false, `a log line contains "${secret.slice(0, 12)}…"`);
    }
  });
});
