import { Unzip, UnzipInflate } from 'fflate';
import { inflateSync, constants as zlibConstants } from 'node:zlib';
import { Parser } from 'htmlparser2';
import { DocumentRejectedError } from './extract';
import type { DocumentKind } from './media-type';

/**
 * Bounds a document must stay within before any parser allocates for it. Each check here is
 * linear in the input and stops as soon as a bound is crossed: compressed data is inflated in a
 * stream that counts bytes and never keeps them, and nesting is counted by a streaming tokenizer
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

/** Every entry of a ZIP (DOCX) inflated and counted, without trusting the sizes its headers declare. */
export function checkZip(bytes: Uint8Array, bounds: DocumentBounds): void {
  const budget = expansionBudget(bytes.length, bounds);
  let total = 0;
  let entries = 0;
  let damage: Error | undefined;
  const unzip = new Unzip((file) => {
    if (++entries > MAX_ZIP_ENTRIES) return;
    file.ondata = (err, chunk) => {
      if (err) damage ??= err;
      else total += chunk.length;
      if (total > budget) file.terminate();
    };
    file.start();
  });
  unzip.register(UnzipInflate);
  const SLICE = 64 * 1024;
  try {
    // Fed in slices so an over-budget entry is noticed after at most one slice's expansion.
    for (let at = 0; at < bytes.length && total <= budget && entries <= MAX_ZIP_ENTRIES && !damage; at += SLICE) {
      unzip.push(bytes.subarray(at, at + SLICE), at + SLICE >= bytes.length);
    }
  } catch (err) {
    damage ??= err instanceof Error ? err : new Error(String(err));
  }
  if (entries > MAX_ZIP_ENTRIES) throw new DocumentRejectedError('inflation', `The archive has more than ${MAX_ZIP_ENTRIES} entries.`);
  if (total > budget) throw inflationRejected('archive', budget, bounds);
  if (damage) throw new DocumentRejectedError('corrupt', `The archive could not be read: ${damage.message || damage.name}`);
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
