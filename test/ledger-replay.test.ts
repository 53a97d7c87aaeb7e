import { MockActivityEnvironment } from '@temporalio/testing';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createGenerateActivities } from '../src/activities/generate';
import { createPrisma, type Db } from '../src/db/client';
import { createTestDatabase, type TestDatabase } from '../src/db/testing';
import { createLlmClient } from '../src/llm/client';
import { loadConfig } from '../src/config';
import { startModelServer, type ModelServer } from '../src/model-server/server';
import type { AnswerResult } from '../src/shared';
import { seedTenant } from './support/stack';

/**
 * A worker that dies after `generate` completed and was ledgered, but before Temporal heard of
 * it, makes Temporal run the activity again. The retry must not call (and bill) the model again.
 */
describe('ledger: a completed step is not billed again when its report was lost', function () {
  this.timeout(60_000);
  let database: TestDatabase;
  let db: Db;
  let model: ModelServer;

  before(async () => {
    [database, model] = await Promise.all([createTestDatabase('ledger_replay'), startModelServer({ port: 0 })]);
    db = createPrisma(database.url);
  });
  after(async () => {
    await db?.$disconnect();
    await model?.close();
    await database?.drop();
  });

  it('returns the recorded output on a later attempt, and runs afresh after an attempt that did not complete', async () => {
    const { tenantId } = await seedTenant(db, 'replay');
    const runId = randomUUID();
    await db.run.create({ data: { id: runId, tenantId, type: 'answer', status: 'running', input: {}, inputHash: 'x', options: {}, model: 'keel-offline-1' } });
    const config = loadConfig({ OPENAI_BASE_URL: model.url, OPENAI_API_KEY: 'test' });
    const activities = createGenerateActivities({ db, llm: createLlmClient(config), prices: config.KEEL_MODEL_PRICES });
    const input = { runId, tenantId, question: 'Bill me once', options: { model: 'keel-offline-1' } };
    const attempt = (n: number): Promise<AnswerResult> =>
      new MockActivityEnvironment({ attempt: n, activityId: '3', workflowExecution: { workflowId: runId, runId: 'wf-run-1' } }).run((i: typeof input) => activities.generate(i), input);

    const first = await attempt(1);
    assert.equal(model.counters().chat.completed, 1);
    // Attempt 2 is what Temporal sends after the worker that ran attempt 1 died unreported.
    const second = await attempt(2);
    assert.deepEqual(second, first);
    assert.equal(model.counters().chat.completed, 1, 'the model was not called again');
    const rows = await db.runStep.findMany({ where: { runId }, orderBy: { attempt: 'asc' } });
    assert.deepEqual(rows.map((r) => [r.attempt, r.status]), [[1, 'completed']]);

    // Another activity of the same run (different activity id) is not confused with it.
    const other: AnswerResult = await new MockActivityEnvironment({ attempt: 2, activityId: '4', workflowExecution: { workflowId: runId, runId: 'wf-run-1' } }).run((i: typeof input) => activities.generate(i), input);
    assert.equal(other.answer, first.answer);
    assert.equal(model.counters().chat.completed, 2);
  });
});
