/**
 * What an upload really is, decided by its bytes. Binary formats are recognised by their
 * magic numbers (the `file-type` library, which also looks inside ZIPs for DOCX). Text
 * formats have no magic number: bytes that are valid UTF-8 without NULs are text, and
 * only then does the declared type or file name choose between Markdown, CSV, JSON, HTML
 * and plain text — a PNG named `notes.md` is still rejected.
 */
export const DOCUMENT_KINDS = ['pdf', 'docx', 'html', 'markdown', 'text', 'csv', 'json'] as const;
export type DocumentKind = (typeof DOCUMENT_KINDS)[number];

export const MEDIA_TYPES: Record<DocumentKind, string> = {
  pdf: 'application/pdf',
  docx: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
  html: 'text/html',
  markdown: 'text/markdown',
  text: 'text/plain',
  csv: 'text/csv',
  json: 'application/json',
};

export function kindOfMediaType(mediaType: string): DocumentKind | undefined {
  return DOCUMENT_KINDS.find((k) => MEDIA_TYPES[k] === mediaType);
}

export interface Detected {
  kind: DocumentKind;
  mediaType: string;
}

export class UnsupportedContentError extends Error {
  constructor(readonly detectedAs: string) {
    super(`Unsupported content (${detectedAs}): send PDF, DOCX, HTML, Markdown, plain text, CSV or JSON.`);
    this.name = 'UnsupportedContentError';
  }
}

function isUtf8Text(bytes: Buffer): boolean {
  if (bytes.includes(0)) return false;
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    return true;
  } catch {
    return false;
  }
}

export async function detectDocumentType(bytes: Buffer, declared: { mediaType?: string; fileName?: string }): Promise<Detected> {
  const { fileTypeFromBuffer } = await import('file-type');
  const found = await fileTypeFromBuffer(bytes);
  if (found?.mime === MEDIA_TYPES.pdf) return { kind: 'pdf', mediaType: MEDIA_TYPES.pdf };
  if (found?.mime === MEDIA_TYPES.docx) return { kind: 'docx', mediaType: MEDIA_TYPES.docx };
  // Anything else is text exactly when it is UTF-8 without NULs, whatever its first bytes look
  // like to file-type (text that happens to start with "BM" is not a bitmap): the API document
  // can then say precisely which uploads are accepted.
  if (!isUtf8Text(bytes)) throw new UnsupportedContentError(found?.mime ?? 'binary data');

  const text = bytes.toString('utf8').trimStart();
  const type = (declared.mediaType ?? '').split(';')[0]!.trim().toLowerCase();
  const ext = (declared.fileName ?? '').toLowerCase().split('.').pop() ?? '';
  if (/^(<!doctype html|<html[\s>])/i.test(text) || type === 'text/html' || ext === 'html' || ext === 'htm') {
    return { kind: 'html', mediaType: MEDIA_TYPES.html };
  }
  if (type === 'application/json' || ext === 'json') {
    try {
      JSON.parse(text);
    } catch {
      throw new UnsupportedContentError('text declared as JSON that does not parse');
    }
    return { kind: 'json', mediaType: MEDIA_TYPES.json };
  }
  if (type === 'text/csv' || ext === 'csv') return { kind: 'csv', mediaType: MEDIA_TYPES.csv };
  if (type === 'text/markdown' || ext === 'md' || ext === 'markdown') return { kind: 'markdown', mediaType: MEDIA_TYPES.markdown };
  return { kind: 'text', mediaType: MEDIA_TYPES.text };
}
