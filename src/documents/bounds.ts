import { inflateRawSync, inflateSync, constants as zlibConstants } from 'node:zlib';
import { Parser } from 'htmlparser2';
import { DocumentRejectedError } from './extract';
import type { DocumentKind } from './media-type';

/**
 * Bounds a document must stay within before any parser allocates for it. Each check here is
 * linear in the input and stops as soon as a bound is crossed: compressed data is inflated by
 * zlib with an output limit of what is left of the budget, and nesting is counted by a streaming tokenizer
 * (htmlparser2, iterative) or a character scan, never by the recursive parsers that would
 * overflow their stack on the same input.
 */
export interface DocumentBounds {
  /** Pages a PDF may have. */
  maxPages: number;
  /** Bytes all compressed parts (ZIP entries, PDF Flate streams) may inflate to, in total. */
  maxExpandedBytes: number;
  /** Inflated bytes per input byte, past the first MIN_RATIO_FLOOR_BYTES. */
  maxExpansionRatio: number;
  /** Nesting depth of JSON arrays/objects and HTML/XML elements. */
  maxNesting: number;
}

/** Below this, any expansion ratio is allowed: a small file of blank scans is no bomb. */
export const MIN_RATIO_FLOOR_BYTES = 16 * 1024 * 1024;
/** Entries a DOCX may hold; a real one has a few dozen. */
export const MAX_ZIP_ENTRIES = 10_000;

/** How many bytes a document of this size may inflate to. */
export function expansionBudget(inputBytes: number, bounds: Pick<DocumentBounds, 'maxExpandedBytes' | 'maxExpansionRatio'>): number {
  return Math.min(bounds.maxExpandedBytes, Math.max(MIN_RATIO_FLOOR_BYTES, inputBytes * bounds.maxExpansionRatio));
}

const inflationRejected = (what: string, budget: number, bounds: DocumentBounds) =>
  new DocumentRejectedError(
    'inflation',
    `The ${what} inflates beyond ${budget} bytes (limits: ${bounds.maxExpandedBytes} bytes in total, ${bounds.maxExpansionRatio}× the file's size).`,
  );

const EOCD = 0x06054b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;

/**
 * Every entry of a ZIP (DOCX) inflated by native zlib and counted, without trusting the sizes
 * the archive declares: each inflate stops (RangeError) once its output would pass what is left
 * of the budget. Entries are found through the central directory, as every ZIP reader (and
 * mammoth's JSZip) finds them. Hand-written (about 30 lines of the ZIP format) rather than
 * fflate's streaming Unzip, which counted the same bytes at 20 MB/s in pure JS where zlib does
 * hundreds: the check would otherwise cost a bomb's owner seconds of everyone's CPU.
 */
export function checkZip(bytes: Buffer, bounds: DocumentBounds): void {
  const budget = expansionBudget(bytes.length, bounds);
  const corrupt = (why: string) => new DocumentRejectedError('corrupt', `The archive could not be read: ${why}.`);
  // The end-of-central-directory record sits in the last 64 KB + 22 bytes (its comment is ≤ 64 KB).
  let eocd = -1;
  for (let at = bytes.length - 22; at >= Math.max(0, bytes.length - 22 - 0xffff); at--) {
    if (bytes.readUInt32LE(at) === EOCD) {
      eocd = at;
      break;
    }
  }
  if (eocd < 0) throw corrupt('no end of central directory');
  const entries = bytes.readUInt16LE(eocd + 10);
  if (entries > MAX_ZIP_ENTRIES) throw new DocumentRejectedError('inflation', `The archive has more than ${MAX_ZIP_ENTRIES} entries.`);
  let at = bytes.readUInt32LE(eocd + 16);
  let total = 0;
  for (let i = 0; i < entries; i++) {
    if (at + 46 > bytes.length || bytes.readUInt32LE(at) !== CENTRAL) throw corrupt('a damaged central directory');
    const method = bytes.readUInt16LE(at + 10);
    const compressed = bytes.readUInt32LE(at + 20);
    const local = bytes.readUInt32LE(at + 42);
    at += 46 + bytes.readUInt16LE(at + 28) + bytes.readUInt16LE(at + 30) + bytes.readUInt16LE(at + 32);
    if (compressed === 0xffffffff || local === 0xffffffff) throw new DocumentRejectedError('inflation', 'The archive uses ZIP64 sizes; no document needs them.');
    if (local + 30 > bytes.length || bytes.readUInt32LE(local) !== LOCAL) throw corrupt('a damaged entry header');
    const start = local + 30 + bytes.readUInt16LE(local + 26) + bytes.readUInt16LE(local + 28);
    const data = bytes.subarray(start, start + compressed);
    if (method === 0) total += data.length;
    else if (method === 8) {
      try {
        total += inflateRawSync(data, { maxOutputLength: Math.max(1, budget - total), finishFlush: zlibConstants.Z_SYNC_FLUSH }).length;
      } catch (err) {
        if (err instanceof RangeError) throw inflationRejected('archive', budget, bounds);
        throw corrupt(`an entry does not inflate (${err instanceof Error ? err.message : String(err)})`);
      }
    } else throw corrupt(`compression method ${method} is not used by documents`);
    if (total > budget) throw inflationRejected('archive', budget, bounds);
  }
}

const STREAM = Buffer.from('stream');
const ENDSTREAM = Buffer.from('endstream');

/**
 * Every zlib-compressed stream of a PDF (FlateDecode: content, object and font streams)
 * inflated and counted. pdf.js would inflate a stream whole into one buffer outside the JS
 * heap, which a heap limit does not cap; this bound does. A stream that does not inflate is
 * left to pdf.js, which reads damaged files leniently.
 */
export function checkPdfStreams(bytes: Buffer, bounds: DocumentBounds): void {
  const budget = expansionBudget(bytes.length, bounds);
  let total = 0;
  let from = 0;
  for (;;) {
    const keyword = bytes.indexOf(STREAM, from);
    if (keyword < 0) return;
    let start = keyword + STREAM.length;
    if (bytes[start] === 0x0d) start++;
    if (bytes[start] !== 0x0a || (keyword >= 3 && bytes.subarray(keyword - 3, keyword).toString('latin1') === 'end')) {
      from = keyword + STREAM.length;
      continue;
    }
    start++;
    const end = bytes.indexOf(ENDSTREAM, start);
    const data = bytes.subarray(start, end < 0 ? bytes.length : end);
    from = end < 0 ? bytes.length : end + ENDSTREAM.length;
    // A zlib header: CMF 0x78 (deflate, 32 KB window) and a check byte making CMF·256+FLG divisible by 31.
    if (data.length < 2 || data[0] !== 0x78 || ((data[0] << 8) | data[1]!) % 31 !== 0) continue;
    try {
      // Native zlib stops (RangeError) once the output would pass what is left of the budget.
      total += inflateSync(data, { maxOutputLength: Math.max(1, budget - total), finishFlush: zlibConstants.Z_SYNC_FLUSH }).length;
    } catch (err) {
      if (err instanceof RangeError) throw inflationRejected('PDF', budget, bounds);
      // Not a stream that inflates: pdf.js decides what to make of it.
    }
  }
}

export function checkPageCount(pages: number, bounds: DocumentBounds): void {
  if (pages > bounds.maxPages) throw new DocumentRejectedError('too-many-pages', `The PDF has ${pages} pages; the limit is ${bounds.maxPages}.`);
}

const tooDeep = (what: string, bounds: DocumentBounds) =>
  new DocumentRejectedError('too-deep', `The ${what} is nested more than ${bounds.maxNesting} levels deep.`);

/** Depth of JSON arrays and objects, by one scan that skips strings. */
export function checkJsonDepth(text: string, bounds: DocumentBounds): void {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > bounds.maxNesting) throw tooDeep('JSON', bounds);
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
}

/** Depth of HTML (or XML) elements as a browser would build them: htmlparser2 closes implied and void elements. */
export function checkMarkupDepth(markup: string, bounds: DocumentBounds, xmlMode = false): void {
  let depth = 0;
  let over = false;
  const parser = new Parser(
    {
      onopentag() {
        if (++depth > bounds.maxNesting && !over) {
          over = true;
          parser.pause();
        }
      },
      onclosetag() {
        depth--;
      },
    },
    { xmlMode },
  );
  parser.write(markup);
  if (!over) parser.end();
  if (over) throw tooDeep(xmlMode ? 'XML' : 'HTML', bounds);
}

/** The bounds that apply to a document of this kind, checked before its parser runs. */
export function checkDocument(kind: DocumentKind, bytes: Buffer, bounds: DocumentBounds): void {
  switch (kind) {
    case 'pdf':
      return checkPdfStreams(bytes, bounds);
    case 'docx':
      return checkZip(bytes, bounds);
    case 'html':
      return checkMarkupDepth(bytes.toString('utf8'), bounds);
    case 'json':
      return checkJsonDepth(bytes.toString('utf8'), bounds);
    default:
      return undefined;
  }
}
