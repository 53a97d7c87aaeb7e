import type { DocumentKind } from './media-type';

/** Why a document can never be ingested: its content, or a bound it crosses (src/documents/bounds.ts). */
export type DocumentRejectedReason = 'encrypted' | 'corrupt' | 'empty' | 'inflation' | 'too-many-pages' | 'too-deep' | 'timeout' | 'out-of-memory';

/**
 * Text out of a document, page by page. PDFs have real pages; every other format is one
 * page. Failures that no retry can fix (encrypted, corrupt, no text) are DocumentRejected.
 */
export class DocumentRejectedError extends Error {
  constructor(
    readonly reason: DocumentRejectedReason,
    message: string,
  ) {
    super(message);
    this.name = 'DocumentRejectedError';
  }
}

export interface PagedDocument {
  pageCount: number;
  /** 1-based. */
  pageText(page: number): Promise<string>;
  close(): Promise<void>;
}

interface PdfTextItem {
  str?: string;
  hasEOL?: boolean;
  height?: number;
}

/** A line set this much larger than the page's body text is a heading. */
const HEADING_SCALE = 1.2;

/**
 * Joins a page's text items into lines, marking lines in a larger font than the page's most
 * common size as Markdown headings, so chunks of PDFs keep their section headings too.
 */
export function pdfPageText(items: readonly PdfTextItem[]): string {
  const lines: Array<{ text: string; size: number }> = [];
  let text = '';
  let size = 0;
  for (const item of items) {
    text += item.str ?? '';
    if ((item.str ?? '').trim()) size = Math.max(size, item.height ?? 0);
    if (item.hasEOL) {
      lines.push({ text, size });
      text = '';
      size = 0;
    } else text += ' ';
  }
  if (text.trim()) lines.push({ text, size });
  const counts = new Map<number, number>();
  for (const l of lines) if (l.text.trim()) counts.set(l.size, (counts.get(l.size) ?? 0) + l.text.length);
  const body = [...counts.entries()].sort((a, b) => b[1] - a[1])[0]?.[0] ?? 0;
  return lines
    .map((l) => (body > 0 && l.size >= body * HEADING_SCALE && l.text.trim() ? `# ${l.text.trim()}` : l.text.replace(/\s+$/, '')))
    .join('\n');
}

async function openPdf(bytes: Buffer): Promise<PagedDocument> {
  const { getDocumentProxy } = await import('unpdf');
  let pdf: Awaited<ReturnType<typeof getDocumentProxy>>;
  try {
    // verbosity 0: pdf.js's console warnings about damaged files would bypass our logger.
    pdf = await getDocumentProxy(new Uint8Array(bytes), { verbosity: 0 });
  } catch (err) {
    const name = err instanceof Error ? err.name : '';
    if (name === 'PasswordException') throw new DocumentRejectedError('encrypted', 'The PDF is encrypted (password-protected); upload an unprotected copy.');
    throw new DocumentRejectedError('corrupt', `The PDF could not be read: ${err instanceof Error ? err.message : String(err)}`);
  }
  return {
    pageCount: pdf.numPages,
    async pageText(page) {
      const content = await (await pdf.getPage(page)).getTextContent();
      return pdfPageText(content.items as PdfTextItem[]);
    },
    close: () => pdf.loadingTask.destroy(),
  };
}

async function docxText(bytes: Buffer): Promise<string> {
  const mammoth = await import('mammoth');
  try {
    const { value } = await mammoth.convertToHtml({ buffer: bytes });
    return htmlText(value);
  } catch (err) {
    throw new DocumentRejectedError('corrupt', `The DOCX could not be read: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** HTML to text that keeps headings as Markdown headings, so chunking can follow them. */
async function htmlText(html: string): Promise<string> {
  const { convert } = await import('html-to-text');
  const marked = html.replace(/<h([1-6])[^>]*>/gi, (_m, l: string) => `<p>${'#'.repeat(Number(l))} `).replace(/<\/h[1-6]>/gi, '</p>');
  return convert(marked, { wordwrap: false, selectors: [{ selector: 'a', options: { ignoreHref: true } }, { selector: 'img', format: 'skip' }] });
}

function single(text: string): PagedDocument {
  return { pageCount: 1, pageText: async () => text, close: async () => undefined };
}

export async function openDocument(kind: DocumentKind, bytes: Buffer): Promise<PagedDocument> {
  switch (kind) {
    case 'pdf':
      return openPdf(bytes);
    case 'docx':
      return single(await docxText(bytes));
    case 'html':
      return single(await htmlText(bytes.toString('utf8')));
    case 'json':
      return single(JSON.stringify(JSON.parse(bytes.toString('utf8')), null, 2));
    default:
      return single(bytes.toString('utf8'));
  }
}
