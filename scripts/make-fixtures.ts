/**
 * Builds the small PDFs the tests use (committed under test/fixtures/documents) and, for the
 * benchmark, PDFs of any length. Run: node --import tsx scripts/make-fixtures.ts
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import JSZip from 'jszip';
import { PDFDocument, StandardFonts } from 'pdf-lib';

/** Each page is a list of lines; a line starting with `# ` is drawn larger, as a heading. */
export async function makePdf(pages: string[][]): Promise<Buffer> {
  const doc = await PDFDocument.create();
  doc.setTitle('Keel test document');
  // Fixed dates keep the bytes (and so the sha256) stable from run to run.
  doc.setCreationDate(new Date('2026-01-01T00:00:00Z'));
  doc.setModificationDate(new Date('2026-01-01T00:00:00Z'));
  const font = await doc.embedFont(StandardFonts.Helvetica);
  for (const lines of pages) {
    const page = doc.addPage([612, 792]);
    let y = 740;
    for (const line of lines) {
      const heading = line.startsWith('# ');
      page.drawText(heading ? line.slice(2) : line, { x: 56, y, size: heading ? 16 : 11, font });
      y -= heading ? 28 : 16;
    }
  }
  return Buffer.from(await doc.save({ useObjectStreams: false }));
}

export const HANDBOOK: string[][] = [
  ['# Keel Handbook', 'This handbook describes how the Keel team works.', 'It covers onboarding, travel and equipment.'],
  ['# Onboarding', 'New engineers get a laptop on their first day.', 'Each newcomer is paired with a mentor for six weeks.'],
  ['# Travel policy', 'Train travel is preferred for trips under five hours.', 'The daily meal allowance abroad is forty-two euros.', 'Hotel bookings go through the travel desk.'],
  ['# Equipment', 'Monitors can be ordered from the internal shop.', 'Broken equipment is replaced within two business days.'],
];

/** `n` pages of generated prose, for the ingestion benchmark and the resume-after-kill test. */
export function longDocument(n: number): string[][] {
  return Array.from({ length: n }, (_, i) => [
    `# Section ${i + 1}`,
    ...Array.from({ length: 30 }, (_, j) => `Line ${j + 1} of page ${i + 1} records fact number ${i * 30 + j} about topic ${(i * 7 + j) % 97}.`),
  ]);
}

const W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"';

/** The smallest DOCX Word and mammoth accept: content types, the package relationship, the body. */
export async function makeDocx(paragraphs: Array<{ text: string; heading?: boolean }>): Promise<Buffer> {
  const zip = new JSZip();
  const date = new Date('2026-01-01T00:00:00Z');
  const xml = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>';
  zip.file('[Content_Types].xml', `${xml}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>`, { date });
  zip.file('_rels/.rels', `${xml}<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>`, { date });
  const body = paragraphs
    .map((p) => `<w:p>${p.heading ? '<w:pPr><w:pStyle w:val="Heading1"/></w:pPr>' : ''}<w:r><w:t>${p.text}</w:t></w:r></w:p>`)
    .join('');
  zip.file('word/document.xml', `${xml}<w:document ${W}><w:body>${body}</w:body></w:document>`, { date });
  return zip.generateAsync({ type: 'nodebuffer', compression: 'DEFLATE' });
}

async function main(): Promise<void> {
  const dir = path.resolve(__dirname, '../test/fixtures/documents');
  await writeFile(path.join(dir, 'handbook.pdf'), await makePdf(HANDBOOK));
  await writeFile(path.join(dir, 'blank.pdf'), await makePdf([[], []]));
  await writeFile(path.join(dir, 'security.docx'), await makeDocx([{ text: 'Security', heading: true }, { text: 'Badges must be worn visibly at all times.' }]));
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
