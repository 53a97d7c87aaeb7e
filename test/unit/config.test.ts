import assert from 'node:assert/strict';
import { ConfigError, loadConfig, OFFLINE_MODEL } from '../../src/config';

describe('config', () => {
  it('works with no environment at all, pointing at the offline model server', () => {
    const c = loadConfig({});
    assert.equal(c.KEEL_API_PORT, 3000);
    assert.equal(c.llm.offline, true);
    assert.equal(c.llm.model, OFFLINE_MODEL);
    assert.equal(c.llm.baseURL, 'http://127.0.0.1:4010/v1');
    assert.deepEqual(c.KEEL_WORKER_TASK_QUEUES, ['keel-workflows', 'keel-llm', 'keel-ingest']);
  });

  it('uses a configured endpoint and treats empty strings as unset', () => {
    const c = loadConfig({ OPENAI_API_KEY: 'sk-test', KEEL_MODEL: '', KEEL_API_PORT: '8080' });
    assert.equal(c.llm.offline, false);
    assert.equal(c.llm.baseURL, 'https://api.openai.com/v1');
    assert.equal(c.llm.model, 'gpt-4o-mini');
    assert.equal(c.KEEL_API_PORT, 8080);
  });

  it('fails fast, naming each bad variable', () => {
    assert.throws(
      () => loadConfig({ KEEL_API_PORT: 'eighty', KEEL_WORKER_TASK_QUEUES: 'keel-llm,keel-typo', KEEL_MODEL_PRICES: '{oops' }),
      (err: unknown) =>
        err instanceof ConfigError &&
        /KEEL_API_PORT/.test(err.message) &&
        /KEEL_WORKER_TASK_QUEUES/.test(err.message) &&
        /KEEL_MODEL_PRICES/.test(err.message),
    );
  });

  it('parses the model price table', () => {
    const c = loadConfig({ KEEL_MODEL_PRICES: '{"m":{"input":1,"output":2}}' });
    assert.deepEqual(c.KEEL_MODEL_PRICES, { m: { input: 1, output: 2 } });
  });
});
