import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { buildParseEntry, currentParseEntry, parseEntry, PARSE_ENTRY_DIR, TSX_PARSE_ENTRY } from '../../src/documents/parse-entry';
import { DEFAULT_DOCUMENT_LIMITS, extractPages } from '../../src/documents/sandbox';

describe('the prebuilt parsing process (src/documents/parse-entry.ts)', function () {
  this.timeout(60_000);
  // Beside the real one, so the bundle resolves packages from the project's node_modules as it does.
  const dir = path.join(PARSE_ENTRY_DIR, '..', `parse-process-test-${process.pid}`);
  const manifest = path.join(dir, 'manifest.json');
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('is used only while every source it was built from is unchanged', async () => {
    const bundle = await buildParseEntry(dir);
    assert.equal(currentParseEntry(dir), bundle);
    const built = JSON.parse(readFileSync(manifest, 'utf8')) as { bundle: string; inputs: Record<string, string> };
    assert.ok(['parse-process', 'bounds', 'extract', 'chunk'].every((m) => `src/documents/${m}.ts` in built.inputs), Object.keys(built.inputs).join());

    // A source edited after the build (its hash no longer matches): the bundle is stale.
    writeFileSync(manifest, JSON.stringify({ ...built, inputs: { ...built.inputs, 'src/documents/bounds.ts': '0'.repeat(64) } }));
    assert.equal(currentParseEntry(dir), undefined);
    // A manifest that does not cover the entry itself proves nothing.
    const { ['src/documents/parse-process.ts']: _entry, ...others } = built.inputs;
    writeFileSync(manifest, JSON.stringify({ ...built, inputs: others }));
    assert.equal(currentParseEntry(dir), undefined);
    writeFileSync(manifest, JSON.stringify(built));
    assert.equal(currentParseEntry(dir), bundle);
    rmSync(bundle);
    assert.equal(currentParseEntry(dir), undefined);
    rmSync(manifest);
    assert.equal(currentParseEntry(dir), undefined);
  });

  it('starts parsing processes without tsx, and they parse as before', async () => {
    // Built by `npm run setup`; a worker that finds it missing or stale rebuilds it in the background.
    const deadline = Date.now() + 30_000;
    while (parseEntry() === TSX_PARSE_ENTRY && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const entry = parseEntry();
    assert.notEqual(entry, TSX_PARSE_ENTRY);
    assert.deepEqual(entry.execArgv, []);

    const big = Buffer.from(`<html><body><h1>Title</h1>${'<p>some words to convert</p>'.repeat(200_000)}</body></html>`);
    let args: string[] = [];
    const pages: string[] = [];
    const parse = extractPages('html', big, { limits: DEFAULT_DOCUMENT_LIMITS, startPage: 1, onPage: async (_page, text) => void pages.push(text) });
    for (let i = 0; i < 200 && args.length === 0; i++) {
      args = execFileSync('ps', ['-o', 'args=', '--ppid', String(process.pid)], { encoding: 'utf8' }).split('\n').filter((l) => l.includes('parse-process'));
      if (args.length === 0) await new Promise((r) => setTimeout(r, 10));
    }
    await parse;
    assert.equal(args.length, 1, 'saw the parsing process');
    assert.ok(args[0]!.includes(entry.modulePath) && !args[0]!.includes('tsx'), args[0]);
    assert.equal(pages.length, 1);
    assert.match(pages[0]!, /^# Title\n/);
  });
});
