/**
 * Structure-aware chunking. A chunk never crosses a page or a Markdown heading, so every
 * chunk has one page and one heading to cite; within a section, paragraphs are packed up to
 * `maxTokens`, and each chunk after the first repeats the last `overlapTokens` of the one
 * before, so a sentence cut at a boundary is whole in at least one chunk.
 */
export interface PageText {
  page: number;
  text: string;
}

export interface DocumentChunk {
  ordinal: number;
  page: number;
  heading: string | null;
  text: string;
  tokenCount: number;
}

export interface ChunkOptions {
  maxTokens: number;
  overlapTokens: number;
}

const TOKEN = /\S+/g;

/** Whitespace-separated words: a cheap, model-independent bound, close enough for sizing chunks. */
export function countTokens(text: string): number {
  return text.match(TOKEN)?.length ?? 0;
}

const HEADING = /^\s{0,3}(#{1,6})\s+(.+?)\s*#*\s*$/;

export function chunkPages(pages: readonly PageText[], opts: ChunkOptions): DocumentChunk[] {
  const maxTokens = Math.max(8, opts.maxTokens);
  const overlap = Math.min(opts.overlapTokens, Math.floor(maxTokens / 2));
  const chunks: DocumentChunk[] = [];
  let heading: string | null = null;

  const emitSection = (page: number, paragraphs: string[][]) => {
    // Greedy packing of whole paragraphs; a paragraph longer than a chunk is cut into windows.
    const pieces = paragraphs.flatMap((p) => {
      const out: string[][] = [];
      // Room for the overlap carried from the chunk before.
      const size = maxTokens - overlap;
      for (let i = 0; i < p.length; i += size) out.push(p.slice(i, i + size));
      return out;
    });
    let current: string[] = [];
    let fresh = 0;
    const flush = () => {
      if (fresh === 0) return;
      chunks.push({ ordinal: chunks.length, page, heading, text: current.join(' '), tokenCount: current.length });
      current = overlap > 0 ? current.slice(-overlap) : [];
      fresh = 0;
    };
    for (const piece of pieces) {
      if (current.length + piece.length > maxTokens) flush();
      if (current.length + piece.length > maxTokens) current = current.slice(Math.max(0, current.length + piece.length - maxTokens));
      current.push(...piece);
      fresh += piece.length;
    }
    flush();
  };

  for (const { page, text } of pages) {
    let paragraphs: string[][] = [];
    let paragraph: string[] = [];
    const endParagraph = () => {
      if (paragraph.length > 0) paragraphs.push(paragraph);
      paragraph = [];
    };
    for (const line of text.split(/\r?\n/)) {
      const h = HEADING.exec(line);
      if (h) {
        endParagraph();
        emitSection(page, paragraphs);
        paragraphs = [];
        heading = h[2]!.trim();
        continue;
      }
      const words = line.match(TOKEN) ?? [];
      if (words.length === 0) endParagraph();
      else paragraph.push(...words);
    }
    endParagraph();
    emitSection(page, paragraphs);
  }
  return chunks;
}
