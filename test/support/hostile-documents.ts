/**
 * Hostile documents, made at test time (nothing big is committed): a DOCX whose document.xml
 * inflates to hundreds of megabytes, a PDF with one huge Flate stream, a PDF with many pages,
 * deeply nested JSON and HTML.
 */
import JSZip from 'jszip';
import { Readable } from 'node:stream';
import { createDeflate } from 'node:zlib';
import { PDFDocument, PDFName, PDFRawStream, StandardFonts } from 'pdf-lib';

const MB = 1024 * 1024;

/** `totalBytes` of `unit` repeated, as a stream of 1 MB pieces: the bomb is never in memory whole. */
function repeated(unit: string, totalBytes: number): Readable {
  const piece = Buffer.from(unit.repeat(Math.ceil(MB / unit.length)));
  let left = totalBytes;
  return new Readable({
    read() {
      if (left <= 0) return void this.push(null);
      const n = Math.min(left, piece.length);
      left -= n;
      this.push(piece.subarray(0, n));
    },
  });
}

/** A DOCX (valid package parts) whose word/document.xml inflates to about `inflatedMb` MB. */
export async function docxBomb(inflatedMb: number): Promise<Buffer> {
  const zip = new JSZip();
  zip.file('[Content_Types].xml', '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>');
  zip.file('_rels/.rels', '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>');
  zip.file('word/document.xml', repeated('<w:p><w:r><w:t>boom</w:t></w:r></w:p>', inflatedMb * MB));
  return zip.generateAsync({ type: 'nodebuffer', compression: 'DEFLATE', compressionOptions: { level: 9 } });
}

async function deflated(source: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of source.pipe(createDeflate({ level: 9 }))) parts.push(part as Buffer);
  return Buffer.concat(parts);
}

/** A one-page PDF whose content stream is a FlateDecode stream inflating to `inflatedMb` MB of spaces. */
export async function pdfFlateBomb(inflatedMb: number): Promise<Buffer> {
  const doc = await PDFDocument.create();
  const page = doc.addPage([612, 792]);
  const contents = await deflated(repeated(' ', inflatedMb * MB));
  const stream = PDFRawStream.of(doc.context.obj({ Filter: 'FlateDecode', Length: contents.length }), contents);
  page.node.set(PDFName.of('Contents'), doc.context.register(stream));
  return Buffer.from(await doc.save({ useObjectStreams: false }));
}

/** A PDF of `pages` pages, one line of text each. */
export async function manyPagesPdf(pages: number): Promise<Buffer> {
  const doc = await PDFDocument.create();
  const font = await doc.embedFont(StandardFonts.Helvetica);
  for (let i = 1; i <= pages; i++) doc.addPage([200, 200]).drawText(`page ${i}`, { x: 20, y: 100, size: 10, font });
  return Buffer.from(await doc.save({ useObjectStreams: false }));
}

export const deepJson = (depth: number): Buffer => Buffer.from('['.repeat(depth) + ']'.repeat(depth));
export const deepHtml = (depth: number): Buffer => Buffer.from(`<!doctype html><html><body>${'<div>'.repeat(depth)}deep${'</div>'.repeat(depth)}</body></html>`);
