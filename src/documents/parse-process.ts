/**
 * The body of a parsing process (src/documents/sandbox.ts): bounds first, then the parser, and
 * each page sent as soon as it is read. Nothing here does I/O but talk to its parent.
 */
import { checkDocument, checkPageCount } from './bounds';
import { chunkPages } from './chunk';
import { DocumentRejectedError, openDocument } from './extract';
import type { SandboxMessage, SandboxTask } from './sandbox';

const post = (message: SandboxMessage) => process.send?.(message);

async function run(task: SandboxTask): Promise<void> {
  if (task.task === 'chunk') {
    post({ type: 'chunks', chunks: chunkPages(task.pages, task.options) });
    return;
  }
  const bytes = Buffer.from(task.bytes.buffer, task.bytes.byteOffset, task.bytes.byteLength);
  checkDocument(task.kind, bytes, task.bounds);
  const doc = await openDocument(task.kind, bytes);
  try {
    checkPageCount(doc.pageCount, task.bounds);
    post({ type: 'open', pageCount: doc.pageCount });
    const start = task.startPage >= 1 && task.startPage <= doc.pageCount + 1 ? task.startPage : 1;
    for (let page = start; page <= doc.pageCount; page++) {
      let text: string;
      try {
        text = (await doc.pageText(page)).replaceAll('\u0000', '');
      } catch (err) {
        throw new DocumentRejectedError('corrupt', `Page ${page} could not be read: ${err instanceof Error ? err.message : String(err)}`);
      }
      post({ type: 'page', page, text });
    }
  } finally {
    await doc.close().catch(() => undefined);
  }
  post({ type: 'done' });
}

// An orphan (its worker died) has nobody to report to.
process.once('disconnect', () => process.exit(1));

process.once('message', (task: SandboxTask) => {
  run(task).catch((err: unknown) => {
    if (err instanceof DocumentRejectedError) post({ type: 'rejected', reason: err.reason, message: err.message });
    // Anything else (a parser's RangeError on hostile input, say) is still about these bytes.
    else post({ type: 'rejected', reason: 'corrupt', message: `The document could not be parsed: ${err instanceof Error ? err.message : String(err)}` });
  });
});
