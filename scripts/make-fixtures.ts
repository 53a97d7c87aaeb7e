/**
 * Builds the small PDFs the tests use (committed under test/fixtures/documents) and, for the
 * benchmark, PDFs of any length. Run: node --import tsx scripts/make-fixtures.ts
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
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

async function main(): Promise<void> {
  const dir = path.resolve(__dirname, '../test/fixtures/documents');
  await writeFile(path.join(dir, 'handbook.pdf'), await makePdf(HANDBOOK));
  await writeFile(path.join(dir, 'blank.pdf'), await makePdf([[], []]));
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
