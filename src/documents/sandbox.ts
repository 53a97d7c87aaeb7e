import { fork } from 'node:child_process';
import { availableParallelism, getPriority, setPriority } from 'node:os';
import path from 'node:path';
import type { DocumentBounds } from './bounds';
import type { ChunkOptions, DocumentChunk, PageText } from './chunk';
import { DocumentRejectedError, type DocumentRejectedReason } from './extract';
import type { DocumentKind } from './media-type';
import { parseEntry } from './parse-entry';

/**
 * Parsing and chunking run in a child process per call, never on the activity worker's event
 * loop: a parser that spins for minutes or allocates gigabytes takes down its child, not the
 * worker that also runs every other tenant's activities. The child has a heap cap
 * (`--max-old-space-size`), a time budget, and it is killed when the activity is cancelled or
 * timed out (its AbortSignal). At most `concurrency` run at once per worker, at a lower CPU
 * priority than the worker itself. A worker thread with `resourceLimits` was tried first and
 * rejected: a large allocation past the thread's limit aborts the whole process (V8's fatal
 * OOM), which is exactly what this must prevent. Memory outside the JS heap (inflated buffers)
 * is not capped by the heap limit; the expansion bounds checked in the child before parsing
 * (bounds.ts) cap it.
 */
export interface SandboxLimits {
  /** Wall-clock budget of one call (after it got a slot). */
  timeoutMs: number;
  /** Parsing processes one worker runs at once; the next call waits for a slot. */
  concurrency: number;
  /** Old-generation heap of the parsing process. */
  maxHeapMb: number;
}

export type DocumentLimits = DocumentBounds & SandboxLimits;

/**
 * Parsing processes per worker (and so `keel-ingest` activities per worker, src/worker/worker.ts):
 * one on a machine of two cores or fewer, so a burst of uploads always leaves a core to the worker,
 * Temporal and other tenants' runs (docs/hostile-input.md, "The bystander"); two above, since each
 * may hold up to `maxHeapMb` of heap.
 */
export const DEFAULT_PARSE_CONCURRENCY = availableParallelism() <= 2 ? 1 : 2;

export const DEFAULT_DOCUMENT_LIMITS: DocumentLimits = {
  maxPages: 2_000,
  maxExpandedBytes: 200 * 1024 * 1024,
  maxExpansionRatio: 100,
  maxNesting: 500,
  timeoutMs: 180_000,
  concurrency: DEFAULT_PARSE_CONCURRENCY,
  maxHeapMb: 1_024,
};

/**
 * How much nicer than its worker a parsing process runs, so the worker's own event loop (every
 * tenant's activities) gets the CPU first. Relative, not absolute: a worker started under
 * `nice -n 15` (tests, a batch host) would otherwise give its children a *higher* priority than
 * itself, since root may lower a child's niceness.
 */
const PARSE_NICENESS_STEP = 10;

/** The niceness for a parsing process of this process: PARSE_NICENESS_STEP above its own, at most 19. */
export function parseNiceness(own = getPriority()): number {
  return Math.min(19, own + PARSE_NICENESS_STEP);
}

/** Slots for parsing processes in this worker process: each may hold up to `maxHeapMb` of heap. */
const slots = { busy: 0, waiting: [] as Array<() => void> };

async function acquireSlot(limit: number, signal: AbortSignal | undefined): Promise<() => void> {
  while (slots.busy >= limit) {
    signal?.throwIfAborted();
    await new Promise<void>((resolve) => {
      const wake = () => {
        signal?.removeEventListener('abort', wake);
        resolve();
      };
      slots.waiting.push(wake);
      signal?.addEventListener('abort', wake, { once: true });
    });
  }
  signal?.throwIfAborted();
  slots.busy++;
  let released = false;
  return () => {
    if (released) return;
    released = true;
    slots.busy--;
    slots.waiting.shift()?.();
  };
}

export type SandboxTask =
  | { task: 'extract'; kind: DocumentKind; bytes: Uint8Array; bounds: DocumentBounds; startPage: number }
  | { task: 'chunk'; pages: PageText[]; options: ChunkOptions };

export type SandboxMessage =
  | { type: 'open'; pageCount: number }
  | { type: 'page'; page: number; text: string }
  | { type: 'done' }
  | { type: 'chunks'; chunks: DocumentChunk[] }
  | { type: 'rejected'; reason: DocumentRejectedReason; message: string };

/** Runs one task in a fresh child process, feeding its messages to `onMessage` in order; resolves when the child is done. */
async function runInChild(
  task: SandboxTask,
  limits: SandboxLimits,
  signal: AbortSignal | undefined,
  onMessage: (message: SandboxMessage) => Promise<void> | void,
): Promise<void> {
  const release = await acquireSlot(limits.concurrency, signal);
  return new Promise<void>((resolve, reject) => {
    const entry = parseEntry();
    const child = fork(entry.modulePath, [], {
      // The heap cap is the child's own.
      execArgv: [...entry.execArgv, `--max-old-space-size=${limits.maxHeapMb}`],
      serialization: 'advanced',
      cwd: path.join(__dirname, '../..'),
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      env: { PATH: process.env.PATH ?? '', NODE_ENV: process.env.NODE_ENV ?? 'production' },
    });
    try {
      if (child.pid !== undefined) setPriority(child.pid, parseNiceness());
    } catch {
      // Not allowed here (some containers): the child runs at normal priority.
    }
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (d: string) => {
      if (stderr.length < 8_192) stderr += d;
    });
    let settled = false;
    let queue: Promise<void> = Promise.resolve();
    const finish = (err?: unknown) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      child.kill('SIGKILL');
      if (err === undefined) resolve();
      else reject(err instanceof Error ? err : new Error('The parsing process failed', { cause: err }));
    };
    const timer = setTimeout(
      () => finish(new DocumentRejectedError('timeout', `Parsing the document took longer than ${limits.timeoutMs} ms.`)),
      limits.timeoutMs,
    );
    const onAbort = () => finish(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    child.on('message', (message: SandboxMessage) => {
      queue = queue
        .then(async () => {
          if (settled) return;
          if (message.type === 'rejected') return finish(new DocumentRejectedError(message.reason, message.message));
          await onMessage(message);
          if (message.type === 'done' || message.type === 'chunks') finish();
        })
        .catch(finish);
    });
    child.on('error', (err) => finish(err));
    child.on('exit', (code, exitSignal) => {
      void queue.then(() => {
        // The child does no I/O: if it died, these bytes killed it, and would again.
        if (/heap out of memory|Reached heap limit/i.test(stderr) || exitSignal === 'SIGKILL') {
          finish(new DocumentRejectedError('out-of-memory', `Parsing the document needed more than ${limits.maxHeapMb} MB of heap.`));
        } else {
          finish(new DocumentRejectedError('corrupt', `The document parser exited (${exitSignal ?? `code ${code}`}) before it finished.`));
        }
      });
    });
    child.send(task);
  }).finally(release);
}

/**
 * Extracts a document's pages from `startPage` on, calling `onPage` for each in order (awaited
 * before the next one is handled). Throws DocumentRejectedError for a bound it crosses or
 * content it cannot read, and the signal's reason when aborted.
 */
export async function extractPages(
  kind: DocumentKind,
  bytes: Buffer,
  opts: { limits: DocumentLimits; startPage: number; signal?: AbortSignal; onPage: (page: number, text: string, pageCount: number) => Promise<void> },
): Promise<{ pageCount: number }> {
  const { timeoutMs, maxHeapMb, concurrency, ...bounds } = opts.limits;
  let pageCount = 0;
  await runInChild(
    { task: 'extract', kind, bytes: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), bounds, startPage: opts.startPage },
    { timeoutMs, maxHeapMb, concurrency },
    opts.signal,
    async (message) => {
      if (message.type === 'open') pageCount = message.pageCount;
      else if (message.type === 'page') await opts.onPage(message.page, message.text, pageCount);
    },
  );
  return { pageCount };
}

/** chunkPages (src/documents/chunk.ts) in a child process, off the event loop: a 45 MB text is seconds of CPU. */
export async function chunkInSandbox(pages: PageText[], options: ChunkOptions, limits: SandboxLimits, signal?: AbortSignal): Promise<DocumentChunk[]> {
  let chunks: DocumentChunk[] = [];
  await runInChild({ task: 'chunk', pages, options }, limits, signal, (message) => {
    if (message.type === 'chunks') chunks = message.chunks;
  });
  return chunks;
}
