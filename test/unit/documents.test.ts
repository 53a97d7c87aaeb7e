import assert from 'node:assert/strict';
import { mergeExtractions, splitSections, validationErrors } from '../../src/activities/extract';
import { fuseRankings, orQuery, RRF_K } from '../../src/activities/retrieve';
import { chunkPages } from '../../src/documents/chunk';
import { pdfPageText } from '../../src/documents/extract';
import { detectDocumentType, UnsupportedContentError } from '../../src/documents/media-type';

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
});
