import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { mergeExtractions, splitSections, validationErrors } from '../../src/activities/extract';
import { fuseRankings, orQuery, RRF_K } from '../../src/activities/retrieve';
import { chunkPages, countTokens } from '../../src/documents/chunk';
import { pdfPageText } from '../../src/documents/extract';
import { detectDocumentType, kindOfMediaType, MEDIA_TYPES, UnsupportedContentError } from '../../src/documents/media-type';

const words = (n: number, prefix: string) => Array.from({ length: n }, (_, i) => `${prefix}${i}`).join(' ');

describe('documents: pure pieces', () => {
  it('chunks by heading and page, within the token bound, with overlap', () => {
    const chunks = chunkPages(
      [
        { page: 1, text: `# Intro\n${words(5, 'a')}\n\n${words(12, 'b')}\n## Next\n${words(3, 'c')}` },
        { page: 2, text: words(4, 'd') },
      ],
      { maxTokens: 10, overlapTokens: 2 },
    );
    assert.deepEqual(
      chunks.map((c) => [c.page, c.heading, c.text]),
      [
        [1, 'Intro', 'a0 a1 a2 a3 a4'],
        [1, 'Intro', 'a3 a4 b0 b1 b2 b3 b4 b5 b6 b7'],
        [1, 'Intro', 'b6 b7 b8 b9 b10 b11'],
        [1, 'Next', 'c0 c1 c2'],
        [2, 'Next', 'd0 d1 d2 d3'],
      ],
    );
    assert.ok(chunks.every((c) => c.tokenCount <= 10));
  });

  it('fuses rankings by reciprocal rank, best first, ties by id', () => {
    const fused = fuseRankings(['x', 'y', 'z'], ['y', 'w'], 3);
    assert.deepEqual(fused.map((f) => f.id), ['y', 'x', 'w']);
    assert.equal(fused[0]?.score, 1 / (RRF_K + 2) + 1 / (RRF_K + 1));
    assert.deepEqual([fused[0]?.lexicalRank, fused[0]?.vectorRank], [2, 1]);
    assert.deepEqual(fuseRankings(['b'], ['a'], 2).map((f) => f.id), ['a', 'b']);
    assert.equal(orQuery('What is the meal allowance?'), 'what | is | the | meal | allowance');
  });

  it('marks larger-font PDF lines as headings', () => {
    const text = pdfPageText([
      { str: 'Travel policy', height: 16, hasEOL: true },
      { str: 'Trains are preferred.', height: 11, hasEOL: true },
      { str: 'Meals are covered.', height: 11, hasEOL: true },
    ]);
    assert.equal(text, '# Travel policy\nTrains are preferred.\nMeals are covered.');
  });

  it('types uploads by content, not by name', async () => {
    const png = Buffer.from('89504e470d0a1a0a0000000d4948445200000001000000010806000000', 'hex');
    await assert.rejects(detectDocumentType(png, { fileName: 'notes.md' }), UnsupportedContentError);
    await assert.rejects(detectDocumentType(Buffer.from([0x61, 0x00, 0x62]), { fileName: 'a.txt' }), UnsupportedContentError);
    assert.equal((await detectDocumentType(Buffer.from('# Hi'), { fileName: 'a.md' })).kind, 'markdown');
    assert.equal((await detectDocumentType(Buffer.from('<!DOCTYPE html><p>x</p>'), { fileName: 'a.txt' })).kind, 'html');
    await assert.rejects(detectDocumentType(Buffer.from('{nope'), { mediaType: 'application/json' }), UnsupportedContentError);
  });

  it('merges section extractions and validates against the schema', () => {
    assert.deepEqual(mergeExtractions([{ a: 'x', list: [1, 2] }, { a: 'y', b: true, list: [2, 3] }, null]), { a: 'x', list: [1, 2, 3], b: true });
    assert.deepEqual(validationErrors({ type: 'object', required: ['a'] }, {}), ["(root) must have required property 'a'"]);
    assert.deepEqual(splitSections(`${words(5, 'p')}\n\n${words(5, 'q')}\n\n${words(5, 'r')}`, 10).length, 2);
  });

  describe('detectDocumentType', () => {
    const detect = (text: string | Buffer, declared: { mediaType?: string; fileName?: string } = {}) =>
      detectDocumentType(typeof text === 'string' ? Buffer.from(text) : text, declared);

    it('PDF and DOCX by their bytes, whatever they are called', async () => {
      const pdf = Buffer.from('%PDF-1.7\n1 0 obj\n<<>>\nendobj\n');
      assert.deepEqual(await detect(pdf, { fileName: 'x.txt', mediaType: 'text/plain' }), { kind: 'pdf', mediaType: 'application/pdf' });
      const docx = await readFile(path.join(__dirname, '../fixtures/documents/security.docx'));
      assert.deepEqual(await detect(docx, { fileName: 'x.md' }), { kind: 'docx', mediaType: MEDIA_TYPES.docx });
    });

    it('binary that file-type knows, or bytes that are not UTF-8, are refused and say what they were', async () => {
      const gif = Buffer.from('GIF89a\x01\x00\x01\x00\x00\x00\x00;', 'latin1');
      await assert.rejects(detect(gif, { fileName: 'a.txt' }), (err) => err instanceof UnsupportedContentError && err.detectedAs === 'image/gif' && /^Unsupported content \(image\/gif\): send PDF/.test(err.message));
      await assert.rejects(detect(Buffer.from([0xc3, 0x28]), { fileName: 'a.txt' }), (err) => err instanceof UnsupportedContentError && err.detectedAs === 'binary data');
    });

    it('text formats file-type reports (XML) are still text', async () => {
      assert.equal((await detect('<?xml version="1.0"?><a/>', { fileName: 'a.xml' })).kind, 'text');
    });

    it('among text, the declared type (parameters and case ignored) or the extension picks the kind', async () => {
      const cases: Array<[string, { mediaType?: string; fileName?: string }, string, string]> = [
        ['<html><p>x</p>', {}, 'html', 'text/html'],
        ['  <!doctype html>', {}, 'html', 'text/html'],
        ['<p>x</p>', { mediaType: 'Text/HTML; charset=utf-8' }, 'html', 'text/html'],
        ['<p>x</p>', { fileName: 'page.HTM' }, 'html', 'text/html'],
        ['<p>x</p>', { fileName: 'page.html' }, 'html', 'text/html'],
        ['<htmlx>', {}, 'text', 'text/plain'],
        ['{"a":1}', { mediaType: 'application/json' }, 'json', 'application/json'],
        ['[1]', { fileName: 'data.JSON' }, 'json', 'application/json'],
        ['{"a":1}', {}, 'text', 'text/plain'],
        ['a,b\n1,2', { mediaType: 'text/csv' }, 'csv', 'text/csv'],
        ['a,b\n1,2', { fileName: 'x.csv' }, 'csv', 'text/csv'],
        ['# T', { mediaType: 'text/markdown' }, 'markdown', 'text/markdown'],
        ['# T', { fileName: 'x.markdown' }, 'markdown', 'text/markdown'],
        ['# T', { fileName: 'md' }, 'markdown', 'text/markdown'],
        ['# T', { fileName: 'x.txt' }, 'text', 'text/plain'],
        ['plain', {}, 'text', 'text/plain'],
      ];
      for (const [text, declared, kind, mediaType] of cases) {
        assert.deepEqual(await detect(text, declared), { kind, mediaType }, `${text} ${JSON.stringify(declared)}`);
      }
    });

    it('text declared as JSON must parse', async () => {
      await assert.rejects(detect('{', { fileName: 'a.json' }), (err) => err instanceof UnsupportedContentError && err.detectedAs === 'text declared as JSON that does not parse');
    });

    it('maps media types back to kinds', () => {
      assert.equal(kindOfMediaType('text/csv'), 'csv');
      assert.equal(kindOfMediaType(MEDIA_TYPES.docx), 'docx');
      assert.equal(kindOfMediaType('image/png'), undefined);
    });
  });

  describe('chunkPages bounds', () => {
    const rows = (chunks: ReturnType<typeof chunkPages>) => chunks.map((c) => [c.ordinal, c.page, c.heading, c.text, c.tokenCount]);

    it('never goes below 8 tokens a chunk, and caps the overlap at half a chunk', () => {
      assert.deepEqual(rows(chunkPages([{ page: 1, text: words(20, 'a') }], { maxTokens: 4, overlapTokens: 0 })), [
        [0, 1, null, 'a0 a1 a2 a3 a4 a5 a6 a7', 8],
        [1, 1, null, 'a8 a9 a10 a11 a12 a13 a14 a15', 8],
        [2, 1, null, 'a16 a17 a18 a19', 4],
      ]);
      assert.deepEqual(rows(chunkPages([{ page: 1, text: words(20, 'a') }], { maxTokens: 8, overlapTokens: 10 })), [
        [0, 1, null, 'a0 a1 a2 a3 a4 a5 a6 a7', 8],
        [1, 1, null, 'a4 a5 a6 a7 a8 a9 a10 a11', 8],
        [2, 1, null, 'a8 a9 a10 a11 a12 a13 a14 a15', 8],
        [3, 1, null, 'a12 a13 a14 a15 a16 a17 a18 a19', 8],
      ]);
    });

    it('recognises Markdown headings only as Markdown does, across CRLF lines', () => {
      const chunks = chunkPages([{ page: 1, text: '   ## Title ##  \r\nx y\r\n    # not heading\n####### seven\n#nospace' }], { maxTokens: 10, overlapTokens: 2 });
      assert.deepEqual(rows(chunks), [[0, 1, 'Title', 'x y # not heading ####### seven #nospace', 8]]);
    });

    it('packs whole paragraphs while they fit, and a heading carries over to the next page', () => {
      assert.deepEqual(rows(chunkPages([{ page: 1, text: `${words(3, 'a')}\n\n${words(3, 'b')}\n\n${words(3, 'c')}` }], { maxTokens: 8, overlapTokens: 0 })), [
        [0, 1, null, 'a0 a1 a2 b0 b1 b2', 6],
        [1, 1, null, 'c0 c1 c2', 3],
      ]);
      assert.deepEqual(rows(chunkPages([{ page: 1, text: '# H\n' }, { page: 2, text: 'z' }], { maxTokens: 8, overlapTokens: 1 })), [[0, 2, 'H', 'z', 1]]);
    });

    it('counts whitespace-separated tokens', () => {
      assert.equal(countTokens('  a  b\tc\n'), 3);
      assert.equal(countTokens(''), 0);
    });
  });
});
