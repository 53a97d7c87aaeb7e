import assert from 'node:assert/strict';
import { longDocument, makePdf } from '../scripts/make-fixtures';
import type { ExtractProgress } from '../src/activities/ingest';
import { withPgClient } from '../src/db/testing';
import type { KeelProcess } from './support/processes';
import { eventually, http, startStack, type TestStack } from './support/stack';
import { startTcpProxy } from './support/tcp-proxy';

interface RunBody {
  status: string;
  result: Record<string, unknown> | null;
  error: unknown;
  steps: Array<{ step: string; attempts: Array<{ attempt: number; status: string }> }>;
}

describe('crash recovery: SIGKILL the worker process mid-run', function () {
  this.timeout(180_000);
  let stack: TestStack;
  const children: KeelProcess[] = [];
  const worker = async () => {
    const child = await stack.spawnWorker();
    children.push(child);
    return child;
  };

  before(async () => {
    stack = await startStack({ label: 'crash', workers: false, env: { KEEL_EMBEDDING_MODEL: 'keel-offline-embed-1' } });
  });
  afterEach(async () => {
    for (const c of children.splice(0)) await c.kill('SIGKILL');
  });
  after(async () => {
    await stack?.stop();
  });

  it('after generate and before store: the restarted worker stores without calling the model again', async () => {
    stack.model.reset();
    stack.model.setLatency(1000);
    const created = await http<{ id: string }>(stack, 'POST', '/v1/runs', { body: { type: 'answer', input: { question: 'Is a finished step billed twice?' } } });
    const runId = created.body.id;
    await withPgClient(stack.config.DATABASE_URL, async (lock) => {
      const first = await worker();
      // Wait for the workflow's own first write (guardInput marks the run running) to be done: a lock
      // taken before it would hold guardInput's UPDATE instead of the store's.
      await eventually(
        async () => ((await stack.db.runStep.findMany({ where: { runId, step: 'guardInput', status: 'completed' } })).length > 0 ? true : undefined),
        'guardInput to complete',
        60_000,
      );
      // Holding the run row makes the store's UPDATE wait (guardOutput's statement since
      // answer-lean-v4): the window between generate and store. NO KEY: ledger rows that
      // reference the run can still be inserted.
      await lock.query('BEGIN');
      await lock.query('SELECT id FROM run WHERE id = $1 FOR NO KEY UPDATE', [runId]);
      // The store writes no `started` row: what shows it waiting is its statement, blocked on the lock.
      await eventually(async () => {
        const steps = await stack.db.runStep.findMany({ where: { runId } });
        const generated = steps.some((s) => s.step === 'generate' && s.status === 'completed');
        // Read outside the lock's transaction: pg_stat_activity is a snapshot per transaction.
        const [waiting] = await stack.db.$queryRaw<Array<{ n: number }>>`
          SELECT count(*)::int AS n FROM pg_stat_activity
          WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%UPDATE run SET status = ''completed''%'`;
        return generated && (waiting?.n ?? 0) > 0 ? true : undefined;
      }, 'generate done and storeResult waiting', 60_000);
      await first.kill('SIGKILL');
      await lock.query('ROLLBACK');
    });
    // The store writes the run and its ledger rows in one statement, which the killed worker had
    // already sent: Postgres runs it once the lock is released, so the row may already say completed.
    // Temporal never heard of it either way; what follows must complete the workflow without the model.
    assert.ok(['running', 'completed'].includes((await stack.db.run.findUnique({ where: { id: runId } }))?.status ?? ''));
    stack.model.setLatency(0);

    await worker();
    const run = await eventually(async () => {
      const res = await http<RunBody>(stack, 'GET', `/v1/runs/${runId}`);
      return res.body.status === 'completed' ? res.body : undefined;
    }, 'run to complete after restart', 90_000);
    assert.equal(stack.model.counters().chat.completed, 1, 'generate was called once');
    const generate = run.steps.find((s) => s.step === 'generate')?.attempts ?? [];
    assert.deepEqual(generate.map((a) => a.status), ['completed'], 'one billed generate in the ledger');
    const store = run.steps.find((s) => s.step === 'storeResult')?.attempts ?? [];
    // The `storeResult` row is a part of guardOutput's attempt (answer-lean-v4): written once, by
    // the killed attempt's statement, or by a retry that found no completed row; never twice.
    assert.deepEqual(store.map((a) => [a.attempt, a.status]), [[1, 'completed']]);
  });

  it('after generate was ledgered but before Temporal heard of it: the retry returns the recorded output, no second model call', async () => {
    stack.model.reset();
    stack.model.setLatency(3000);
    const [host, port] = stack.config.TEMPORAL_ADDRESS.split(':');
    const proxy = await startTcpProxy({ host: host ?? '127.0.0.1', port: Number(port) });
    let runId: string;
    try {
      // The first worker reaches Temporal only through a proxy the test can cut.
      const first = await stack.spawnWorker('worker-via-proxy', { TEMPORAL_ADDRESS: `127.0.0.1:${proxy.port}` });
      children.push(first);
      const created = await http<{ id: string }>(stack, 'POST', '/v1/runs', { body: { type: 'answer', input: { question: 'Is a lost completion billed twice?' } } });
      runId = created.body.id;
      const generateRow = (status: string) => async () =>
        (await stack.db.runStep.findFirst({ where: { runId, step: 'generate', status } })) ?? undefined;
      await eventually(generateRow('started'), 'generate to start', 60_000);
      // The model is still answering (3 s): cut the worker off Temporal, let it finish the step
      // and record it in the ledger, then kill it. Its completion never reaches Temporal.
      proxy.cut();
      await eventually(generateRow('completed'), 'generate to complete in the ledger', 60_000);
      await first.kill('SIGKILL');
    } finally {
      await proxy.close();
    }
    const pending = (await stack.temporal.workflow.getHandle(runId).describe()).raw.pendingActivities ?? [];
    assert.deepEqual(pending.map((a) => a.activityType?.name), ['generate'], 'Temporal still waits for generate');
    assert.equal(stack.model.counters().chat.completed, 1);
    stack.model.setLatency(0);

    // A new worker gets generate again once the heartbeat timeout passes: attempt 2.
    await worker();
    const run = await eventually(async () => {
      const res = await http<RunBody>(stack, 'GET', `/v1/runs/${runId}`);
      return res.body.status === 'completed' ? res.body : undefined;
    }, 'run to complete after restart', 90_000);
    assert.equal(stack.model.counters().chat.completed, 1, 'the model was called once');
    const generate = run.steps.find((s) => s.step === 'generate')?.attempts ?? [];
    assert.deepEqual(generate.map((a) => [a.attempt, a.status]), [[1, 'completed']], 'one billed generate in the ledger');
    const recorded = await stack.db.runStep.findFirstOrThrow({ where: { runId, step: 'generate', status: 'completed' } });
    assert.equal(run.result?.answer, (recorded.output as { answer?: unknown } | null)?.answer, 'the run stored the recorded answer');

    // Temporal ran generate a second time, and that attempt completed: the ledger replay answered it.
    const events = (await stack.temporal.workflow.getHandle(runId).fetchHistory()).events ?? [];
    const scheduled = events.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'generate');
    const started = events.filter((e) => Number(e.activityTaskStartedEventAttributes?.scheduledEventId) === Number(scheduled?.eventId));
    assert.deepEqual(started.map((e) => e.activityTaskStartedEventAttributes?.attempt), [2]);
    assert.ok(events.some((e) => Number(e.activityTaskCompletedEventAttributes?.scheduledEventId) === Number(scheduled?.eventId)));
  });

  it('during extraction: the restarted worker resumes from the last heartbeat, not page 1', async () => {
    const pages = 60;
    const blockedPage = 30;
    const pdf = await makePdf(longDocument(pages));
    const form = new FormData();
    form.append('file', new Blob([new Uint8Array(pdf)], { type: 'application/pdf' }), 'long.pdf');
    const res = await fetch(`${stack.baseUrl}/v1/documents`, { method: 'POST', headers: { authorization: `Bearer ${stack.apiKey}` }, body: form });
    const up = (await res.json()) as { versionId: string; ingestRunId: string };
    assert.equal(res.status, 202);

    const handle = stack.temporal.workflow.getHandle(up.ingestRunId);
    let resumeAt = 0;
    await withPgClient(stack.config.DATABASE_URL, async (lock) => {
      // An uncommitted row for one page makes the worker's write of that page wait, so the
      // kill lands mid-extraction at a known point, whatever the machine's speed.
      await lock.query('BEGIN');
      await lock.query('INSERT INTO document_page (version_id, page, text, attempt) VALUES ($1, $2, $3, 0)', [up.versionId, blockedPage, 'lock']);
      const first = await worker();
      const progress = await eventually(async () => {
        const d = await handle.describe();
        const pending = d.raw.pendingActivities?.find((a) => a.activityType?.name === 'extractText');
        const payload = pending?.heartbeatDetails?.payloads?.[0]?.data;
        if (!payload) return undefined;
        const details = JSON.parse(Buffer.from(payload).toString('utf8')) as ExtractProgress;
        return details.nextPage === blockedPage ? details : undefined;
      }, 'a heartbeat naming the blocked page', 60_000);
      resumeAt = progress.nextPage;
      await first.kill('SIGKILL');
      await lock.query('ROLLBACK');
    });

    await worker();
    const run = await eventually(async () => {
      const r = await http<RunBody>(stack, 'GET', `/v1/runs/${up.ingestRunId}`);
      return r.body.status === 'completed' || r.body.status === 'failed' ? r.body : undefined;
    }, 'ingest to complete after restart', 120_000);
    assert.equal(run.status, 'completed', JSON.stringify(run.error));
    const rows = await stack.db.documentPage.findMany({ where: { versionId: up.versionId }, orderBy: { page: 'asc' } });
    assert.deepEqual(rows.map((r) => r.page), Array.from({ length: pages }, (_, i) => i + 1));
    const firstOfRetry = rows.find((r) => r.attempt === 2)?.page;
    assert.equal(firstOfRetry, resumeAt, 'the retry started at the heartbeat page');
    assert.ok(rows.filter((r) => r.page < resumeAt).every((r) => r.attempt === 1), 'pages before it were not extracted again');
    assert.ok(rows.filter((r) => r.page >= resumeAt).every((r) => r.attempt === 2));
  });
});
