import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { getPriority } from 'node:os';
import path from 'node:path';
import { checkJsonDepth, checkMarkupDepth, checkPdfStreams, checkZip, expansionBudget, MIN_RATIO_FLOOR_BYTES } from '../../src/documents/bounds';
import { chunkPages } from '../../src/documents/chunk';
import { DocumentRejectedError } from '../../src/documents/extract';
import { chunkInSandbox, DEFAULT_DOCUMENT_LIMITS, extractPages, parseNiceness, type DocumentLimits } from '../../src/documents/sandbox';
import { DEFAULT_RESTART_POLICY, restartDelay } from '../../src/dev/restart-policy';
import { deepHtml, deepJson, docxBomb, manyPagesPdf, pdfFlateBomb } from '../support/hostile-documents';

const rejectedFor = (reason: string) => (err: unknown) => {
  assert.ok(err instanceof DocumentRejectedError, String(err));
  assert.equal(err.reason, reason, err.message);
  return true;
};

const limits = (overrides: Partial<DocumentLimits> = {}): DocumentLimits => ({ ...DEFAULT_DOCUMENT_LIMITS, ...overrides });
const collect = () => {
  const pages: string[] = [];
  return { pages, onPage: async (_page: number, text: string) => void pages.push(text) };
};

describe('document bounds: checked before any parser allocates', function () {
  this.timeout(60_000);

  it('a ZIP is measured by inflating it, not by the sizes its headers declare', async () => {
    const bomb = await docxBomb(40);
    assert.ok(bomb.length < 400_000, `the bomb is small (${bomb.length} bytes)`);
    assert.throws(() => checkZip(bomb, limits()), rejectedFor('inflation'));
    // The same archive passes when the bounds allow it: the check counts, it does not guess.
    assert.doesNotThrow(() => checkZip(bomb, limits({ maxExpandedBytes: 100 * 1024 * 1024, maxExpansionRatio: 10_000 })));
    // A real DOCX passes with the defaults.
    assert.doesNotThrow(() => checkZip(readFileSync(path.join(__dirname, '../fixtures/documents/security.docx')), limits()));
    assert.throws(() => checkZip(Buffer.from('PK not really a zip'), limits()), rejectedFor('corrupt'));
  });

  it('a PDF Flate stream that inflates past the budget is rejected after inflating only the budget', async () => {
    const bomb = await pdfFlateBomb(300);
    assert.ok(bomb.length < 1_000_000);
    const started = process.hrtime.bigint();
    assert.throws(() => checkPdfStreams(bomb, limits()), rejectedFor('inflation'));
    // Stopping at the budget (16 MB here) rather than inflating 300 MB: well under a second of CPU.
    assert.ok(Number(process.hrtime.bigint() - started) / 1e6 < 5_000);
  });

  it('the expansion budget is the ratio times the size, with a floor and a ceiling', () => {
    const b = { maxExpandedBytes: 200 * 1024 * 1024, maxExpansionRatio: 100 };
    assert.equal(expansionBudget(1_000, b), MIN_RATIO_FLOOR_BYTES);
    assert.equal(expansionBudget(1_000_000, b), 100_000_000);
    assert.equal(expansionBudget(10_000_000, b), b.maxExpandedBytes);
  });

  it('JSON and HTML depth are counted without recursion', () => {
    assert.throws(() => checkJsonDepth(deepJson(5_000).toString(), limits()), rejectedFor('too-deep'));
    assert.doesNotThrow(() => checkJsonDepth(deepJson(400).toString(), limits()));
    // Brackets inside strings are text, not nesting.
    assert.doesNotThrow(() => checkJsonDepth(JSON.stringify({ s: '['.repeat(10_000) + '\\"' }), limits()));
    assert.throws(() => checkMarkupDepth(deepHtml(100_000).toString(), limits()), rejectedFor('too-deep'));
    // Void and implicitly closed elements do not nest.
    assert.doesNotThrow(() => checkMarkupDepth(`<body>${'<p>para<br><img src=x>'.repeat(5_000)}</body>`, limits()));
  });
});

describe('document sandbox: parsing in a bounded child process', function () {
  this.timeout(120_000);

  it('rejects each hostile document with its reason, and reads a normal one', async () => {
    await assert.rejects(extractPages('json', deepJson(5_000), { limits: limits(), startPage: 1, ...collect() }), rejectedFor('too-deep'));
    await assert.rejects(extractPages('html', deepHtml(100_000), { limits: limits(), startPage: 1, ...collect() }), rejectedFor('too-deep'));
    await assert.rejects(extractPages('docx', await docxBomb(40), { limits: limits(), startPage: 1, ...collect() }), rejectedFor('inflation'));
    await assert.rejects(extractPages('pdf', await pdfFlateBomb(300), { limits: limits(), startPage: 1, ...collect() }), rejectedFor('inflation'));
    await assert.rejects(extractPages('pdf', await manyPagesPdf(12), { limits: limits({ maxPages: 10 }), startPage: 1, ...collect() }), rejectedFor('too-many-pages'));
    await assert.rejects(extractPages('json', Buffer.from('{"a":'), { limits: limits(), startPage: 1, ...collect() }), rejectedFor('corrupt'));
    const ok = collect();
    const { pageCount } = await extractPages('pdf', await manyPagesPdf(3), { limits: limits(), startPage: 2, onPage: ok.onPage });
    assert.equal(pageCount, 3);
    assert.deepEqual(ok.pages.map((t) => t.trim()), ['page 2', 'page 3'], 'resumes at the page asked for');
  });

  it('a parse past its heap cap ends its child, not this process', async () => {
    // Pretty-printing a wide JSON array needs far more heap than its bytes.
    const wide = Buffer.from(`[${Array.from({ length: 2_000_000 }, () => '{"k":[1,2,3]}').join(',')}]`);
    await assert.rejects(extractPages('json', wide, { limits: limits({ maxHeapMb: 32 }), startPage: 1, ...collect() }), rejectedFor('out-of-memory'));
  });

  it('a parse past its time budget is stopped', async () => {
    const big = Buffer.from(`<html><body>${'<p>some words to convert</p>'.repeat(400_000)}</body></html>`);
    await assert.rejects(extractPages('html', big, { limits: limits({ timeoutMs: 300 }), startPage: 1, ...collect() }), rejectedFor('timeout'));
  });

  it('an aborted parse stops with the abort reason, and the event loop stays free while it runs', async () => {
    const big = Buffer.from(`<html><body>${'<p>some words to convert</p>'.repeat(400_000)}</body></html>`);
    const controller = new AbortController();
    const parse = extractPages('html', big, { limits: limits(), startPage: 1, signal: controller.signal, ...collect() });
    // Timers keep firing in this process while the child parses.
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 10);
    await new Promise((r) => setTimeout(r, 300));
    clearInterval(ticker);
    controller.abort(new Error('cancelled by Temporal'));
    await assert.rejects(parse, /cancelled by Temporal/);
    assert.ok(ticks >= 5, `the event loop ran ${ticks} ticks in 300 ms`);
  });

  it("a parsing process runs ten steps nicer than its worker, whatever the worker's own niceness", async () => {
    assert.deepEqual([0, 5, 9, 15, 19].map((own) => parseNiceness(own)), [10, 15, 19, 19, 19]);
    const big = Buffer.from(`<html><body>${'<p>some words to convert</p>'.repeat(400_000)}</body></html>`);
    const controller = new AbortController();
    const parse = extractPages('html', big, { limits: limits(), startPage: 1, signal: controller.signal, ...collect() });
    const children = () => {
      try {
        return execFileSync('ps', ['-o', 'ni=,args=', '--ppid', String(process.pid)], { encoding: 'utf8' }).split('\n').filter((l) => l.includes('parse-process'));
      } catch {
        return [];
      }
    };
    let seen: string[] = [];
    for (let i = 0; i < 100 && seen.length === 0; i++) {
      seen = children();
      if (seen.length === 0) await new Promise((r) => setTimeout(r, 20));
    }
    controller.abort(new Error('done looking'));
    await assert.rejects(parse, /done looking/);
    assert.equal(seen.length, 1, 'one parsing process');
    // Under `nice -n 15` (how tests run here), an absolute niceness of 10 would have outranked this process.
    assert.equal(Number(seen[0]!.trim().split(/\s+/)[0]), parseNiceness(getPriority()));
    assert.ok(Number(seen[0]!.trim().split(/\s+/)[0]) > getPriority() || getPriority() === 19);
  });

  it('chunks in a child exactly as in-process chunking does', async () => {
    const pages = [{ page: 1, text: '# Head\na b c d e f g h i j' }, { page: 2, text: 'k l m' }];
    const chunks = await chunkInSandbox(pages, { maxTokens: 8, overlapTokens: 2 }, limits());
    assert.equal(chunks.length, 3);
    assert.deepEqual(chunks, chunkPages(pages, { maxTokens: 8, overlapTokens: 2 }));
  });
});

describe('npm start restart policy', () => {
  it('backs off while a process keeps dying and starts over once it has run a while', () => {
    const p = DEFAULT_RESTART_POLICY;
    let delay = restartDelay(p, undefined, 100);
    assert.equal(delay, p.initialMs);
    const seen = [delay];
    for (let i = 0; i < 10; i++) seen.push((delay = restartDelay(p, delay, 100)));
    assert.deepEqual(seen.slice(0, 4), [p.initialMs, p.initialMs * 2, p.initialMs * 4, p.initialMs * 8]);
    assert.equal(seen.at(-1), p.maxMs);
    assert.equal(restartDelay(p, p.maxMs, p.healthyAfterMs), p.initialMs);
  });
});
