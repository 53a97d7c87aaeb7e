/**
 * The Temporal Web UI of `npm start` is readable with payload encryption on: scripts/start.ts
 * runs exactly as `npm start` does (its own Temporal dev server with the Web UI, the offline
 * model server, worker and API, on free ports and a temporary data directory), an answer run is
 * started through the API, and headless Chromium opens the run's page from localhost and from
 * 127.0.0.1 and reads the question, the answer, the memo and the step summaries.
 * KEEL_WEB_UI_SCREENSHOT_DIR=<dir> saves a screenshot of every page it read, to look at.
 */
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { Client, Connection } from '@temporalio/client';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { request } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { networkInterfaces, tmpdir } from 'node:os';
import path from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { AesGcmPayloadCodec, ENCRYPTED_ENCODING } from '../src/codec/aes-gcm-codec';
import { keelDataConverter } from '../src/codec/data-converter';
import { toJson } from '../src/codec/remote-codec';
import { generatePayloadKeyEntry, parsePayloadKeys, type PayloadKeyRing } from '../src/codec/keys';
import { createPrisma, type Db } from '../src/db/client';
import { createTestDatabase, type TestDatabase } from '../src/db/testing';
import { freePort, spawnKeel, stopAll, waitForOutput, type KeelProcess } from './support/processes';
import { eventually, http, seedTenant, waitForRun } from './support/stack';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

describe('Temporal Web UI under npm start, payload encryption on', function () {
  this.timeout(180_000);
  let database: TestDatabase;
  let db: Db;
  let dataDir: string;
  let start: KeelProcess;
  let browser: Browser;
  let api: { baseUrl: string; apiKey: string };
  let temporalAddress: string;
  let uiPort: number;
  let codecEndpoint: string;
  let modelUrl: string;
  const keyEntry = generatePayloadKeyEntry('web-ui');
  const keys: PayloadKeyRing = parsePayloadKeys(keyEntry)!;

  before(async () => {
    database = await createTestDatabase('web_ui');
    db = createPrisma(database.url);
    dataDir = await mkdtemp(path.join(tmpdir(), 'keel-web-ui-'));
    const [temporalPort, apiPort] = [await freePort(), await freePort()];
    modelUrl = `http://127.0.0.1:${await freePort()}`;
    uiPort = await freePort();
    temporalAddress = `127.0.0.1:${temporalPort}`;
    api = { baseUrl: `http://127.0.0.1:${apiPort}`, apiKey: (await seedTenant(db, 'web-ui')).apiKey };
    start = spawnKeel('npm start', 'scripts/start.ts', {
      NODE_ENV: 'development',
      LOG_LEVEL: 'error',
      DATABASE_URL: database.url,
      TEMPORAL_ADDRESS: temporalAddress,
      TEMPORAL_UI_PORT: String(uiPort),
      TEMPORAL_UI_URL: `http://localhost:${uiPort}`,
      KEEL_API_PORT: String(apiPort),
      KEEL_OFFLINE_MODEL_PORT: new URL(modelUrl).port,
      KEEL_WORKER_METRICS_PORT: '0',
      KEEL_TEMPORAL_METRICS_PORT: '0',
      KEEL_DATA_DIR: dataDir,
      KEEL_PAYLOAD_KEYS: keyEntry,
      KEEL_REDIS_PREFIX: `keel-test:web-ui:${randomUUID()}:`,
    });
    codecEndpoint = (await waitForOutput(start, /Web UI codec \(development, loopback only\) at (\S+)/, 90_000))[1]!;
    await eventually(async () => ((await fetch(`${api.baseUrl}/readyz`)).ok ? true : undefined), 'the API to be ready', 90_000);
    browser = await puppeteer.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync', '--disable-dev-shm-usage'],
    });
  });

  after(async () => {
    await browser?.close();
    // SIGTERM: start.ts stops the API and worker first, Temporal last, as on Ctrl-C.
    if (start) await stopAll([start], 'SIGTERM');
    await db?.$disconnect();
    await database?.drop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  /** The text of every frame of the page (the UI renders summaries in a sandboxed frame). */
  async function allText(page: Page): Promise<string> {
    const texts = await Promise.all(page.frames().map((f) => f.evaluate('document.body ? document.body.innerText : ""').catch(() => '')));
    return texts.map(String).join('\n');
  }

  /** Opens the page and waits until every expected text is on it; the failure message shows what was there instead. */
  async function readPage(url: string, expected: string[]): Promise<string> {
    const page = await browser.newPage();
    try {
      await page.setViewport({ width: 1400, height: 1600 });
      await page.goto(url, { waitUntil: 'domcontentloaded' });
      const text = await eventually(async () => {
        const t = await allText(page);
        return expected.every((e) => t.includes(e)) ? t : undefined;
      }, `${url} to show ${JSON.stringify(expected)}`, 60_000).catch(async (err: unknown) => {
        throw new Error(`${url} never showed ${JSON.stringify(expected)}; it shows:\n${(await allText(page)).slice(0, 4000)}`, { cause: err });
      });
      const shots = process.env.KEEL_WEB_UI_SCREENSHOT_DIR;
      if (shots) await page.screenshot({ path: path.join(shots, `${new URL(url).hostname}-${url.split('/').pop()}.png`) });
      return text;
    } finally {
      await page.close();
    }
  }

  /** What Temporal stores, decoded the way the codec decodes it: the test's own view of the run. */
  async function storedRun(id: string) {
    const connection = await Connection.connect({ address: temporalAddress });
    try {
      const client = new Client({ connection, dataConverter: keelDataConverter(keys) });
      const handle = client.workflow.getHandle(id);
      const described = await handle.describe();
      const history = await handle.fetchHistory();
      const codec = new AesGcmPayloadCodec(keys);
      const decode = async (p: Payload | null | undefined) => (p ? defaultPayloadConverter.fromPayload<string>((await codec.decode([p]))[0]!) : undefined);
      const summaries: string[] = [];
      for (const e of history.events ?? []) {
        const summary = e.activityTaskScheduledEventAttributes ? await decode(e.userMetadata?.summary) : undefined;
        if (summary) summaries.push(summary);
      }
      const input = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
      return {
        runId: described.runId,
        memo: typeof described.memo?.summary === 'string' ? described.memo.summary : '',
        staticSummary: (await described.staticSummary()) ?? '',
        summaries,
        inputEncoding: Buffer.from(input?.metadata?.encoding ?? []).toString(),
        rawHistory: JSON.stringify(history),
      };
    } finally {
      await connection.close();
    }
  }

  it("shows a failed run's failure message in clear text", async () => {
    // The offline model rejects the next chat call (400): a non-retryable failure with a message.
    const fault = await fetch(`${modelUrl}/_control/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ faults: 'chat:400' }) });
    assert.equal(fault.status, 200);
    const created = await http<{ id: string }>(api, 'POST', '/v1/runs', { body: { type: 'answer', input: { question: 'Which fault is injected?' } } });
    assert.equal(created.status, 202, JSON.stringify(created.body));
    const run = await waitForRun<{ status: string }>(api, created.body.id, 90_000);
    assert.equal(run.status, 'failed');
    const stored = await storedRun(created.body.id);
    assert.equal(stored.rawHistory.includes('Injected fault'), false, 'the failure message is stored encrypted');
    await readPage(`http://localhost:${uiPort}/namespaces/default/workflows/${created.body.id}/${stored.runId}/history`, ['Model endpoint rejected the request (400)']);
  });

  it('shows the question, answer, memo, summary and step summaries in clear text, from localhost and 127.0.0.1', async () => {
    const marker = `Narwhal-${randomUUID().slice(0, 8)}`;
    const question = `Where does the ${marker} keep its notes?`;
    const created = await http<{ id: string }>(api, 'POST', '/v1/runs', { body: { type: 'answer', input: { question } } });
    assert.equal(created.status, 202, JSON.stringify(created.body));
    const run = await waitForRun<{ status: string; result: { answer: string } }>(api, created.body.id, 90_000);
    assert.equal(run.status, 'completed');
    assert.ok(run.result.answer.includes(marker), 'the offline model quotes the question');

    // Control: Temporal stores (and sends the UI) ciphertext; only the codec makes it readable.
    const stored = await storedRun(created.body.id);
    assert.equal(stored.inputEncoding, ENCRYPTED_ENCODING);
    assert.equal(stored.rawHistory.includes(marker), false);
    assert.ok(stored.memo && stored.staticSummary && stored.summaries.length >= 3, JSON.stringify(stored));

    for (const host of ['localhost', '127.0.0.1']) {
      const base = `http://${host}:${uiPort}/namespaces/default/workflows/${created.body.id}`;
      // The run id alone, as Keel's `links.temporalUi` gives it: the UI opens the latest execution.
      const history = await readPage(base, [question, JSON.stringify(run.result.answer).slice(1, -1), ...new Set(stored.summaries)]);
      assert.equal(history.includes(ENCRYPTED_ENCODING), false, `nothing on the page from ${host} is still encrypted`);
      await readPage(`${base}/${stored.runId}/memo`, [stored.memo]);
      await readPage(`${base}/${stored.runId}/user-metadata`, [stored.staticSummary]);
    }
  });

  it('the development codec answers only on loopback, only for its own Host and the UI origins', async () => {
    const encrypted = await fetch(`${codecEndpoint}/encode`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ payloads: [toJson(defaultPayloadConverter.toPayload('secret'))] }),
    });
    assert.equal(encrypted.status, 200);
    const body = JSON.stringify(await encrypted.json());
    const decode = (headers: Record<string, string>, base = codecEndpoint) =>
      fetch(`${base}/decode`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });

    assert.equal((await decode({})).status, 200, 'the CLI on this machine (no Origin) may decode');
    for (const origin of [`http://localhost:${uiPort}`, `http://127.0.0.1:${uiPort}`]) {
      const res = await decode({ origin });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('access-control-allow-origin'), origin);
    }
    const foreignOrigin = await decode({ origin: 'https://evil.example' });
    assert.equal(foreignOrigin.status, 403);
    assert.equal(foreignOrigin.headers.get('access-control-allow-origin'), null);
    // DNS rebinding: a page on evil.example resolved to 127.0.0.1 arrives with its own Host.
    const port = new URL(codecEndpoint).port;
    const rebound = await rawPost(Number(port), 'evil.example', body);
    assert.equal(rebound, 403);

    assert.equal(new URL(codecEndpoint).hostname, '127.0.0.1');
    const external = Object.values(networkInterfaces()).flat().find((i) => i && i.family === 'IPv4' && !i.internal)?.address;
    if (external) {
      await assert.rejects(decode({}, `http://${external}:${port}`), (err: Error) => /ECONNREFUSED|fetch failed/.test(`${err.message} ${String(err.cause)}`));
    }
  });
});

/** fetch() will not send a forged Host header, so this speaks HTTP/1.1 itself. */
async function rawPost(port: number, host: string, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/decode', headers: { host, 'content-type': 'application/json' } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.once('error', reject);
    req.end(body);
  });
}
