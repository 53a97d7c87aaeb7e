import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ModelBehaviour, createModelApp } from './app';
import type { CountersSnapshot } from './counters';
import type { Fault, FaultInput } from './faults';
import { loadSentenceEmbedder, type SentenceEmbedder } from './sentence-embedder';

export { ModelBehaviour, createModelApp } from './app';
export type { CountersSnapshot, EndpointCounters } from './counters';
export { FaultSpecError, parseFaultSpec, type Fault, type FaultInput } from './faults';

export interface ModelServerOptions {
  /** Defaults to 127.0.0.1. */
  readonly host?: string;
  /** 0 (the default) picks a free port. */
  readonly port?: number;
  readonly latencyMs?: number;
  /** Faults queued at start, in the compact syntax documented in faults.ts. */
  readonly faults?: string;
  /** Serve the real offline embedding model when it is installed (default true); false: hashing vectors only. */
  readonly sentenceEmbeddings?: boolean;
}

export interface ModelServer {
  /** Base URL for the openai SDK, ending in /v1. */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
  /** Why `multilingual-e5-small` requests get hashing vectors, when they do. */
  readonly embeddingFallbackReason: string | undefined;
  counters(): CountersSnapshot;
  /** Zero counters, clear faults, restore the starting latency. */
  reset(): void;
  setLatency(ms: number): void;
  /** Appends faults, as objects or compact strings; returns what is now pending. */
  addFaults(...faults: Array<FaultInput | string>): Fault[];
  clearFaults(): void;
}

/**
 * Starts the bundled offline, OpenAI-compatible model server. Rejects with FaultSpecError
 * on a bad fault spec and with the listen error (e.g. EADDRINUSE) if the port is taken.
 */
export async function startModelServer(opts: ModelServerOptions = {}): Promise<ModelServer> {
  const loaded = opts.sentenceEmbeddings === false ? { reason: 'turned off' } : sharedSentenceEmbedder();
  const behaviour = new ModelBehaviour({ latencyMs: opts.latencyMs ?? 0, faults: opts.faults ?? '', sentenceEmbedder: loaded.embedder });
  const server = createServer(createModelApp(behaviour));
  // Benchmarks open hundreds of connections at once; the default backlog of 511 can drop some.
  server.listen({ host: opts.host ?? '127.0.0.1', port: opts.port ?? 0, backlog: 4096 });
  await Promise.race([
    once(server, 'listening'),
    once(server, 'error').then(([err]) => Promise.reject(err as Error)),
  ]);

  const address = server.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${urlHost(address)}:${address.port}/v1`,
    port: address.port,
    embeddingFallbackReason: loaded.reason,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Hung `timeout` faults and keep-alive sockets would otherwise hold close() open forever.
        server.closeAllConnections();
      });
      return closing;
    },
    counters: () => behaviour.countersSnapshot(),
    reset: () => behaviour.reset(),
    setLatency: (ms) => behaviour.setLatency(ms),
    addFaults: (...faults) => behaviour.addFaults(faults),
    clearFaults: () => behaviour.faults.clear(),
  };
}

/** A wildcard bind isn't a place to connect to; clients should use loopback. */
function urlHost(address: AddressInfo): string {
  if (address.address === '0.0.0.0') return '127.0.0.1';
  if (address.address === '::') return '[::1]';
  return address.family === 'IPv6' ? `[${address.address}]` : address.address;
}

let shared: { embedder?: SentenceEmbedder; reason?: string } | undefined;

/** The engine and its weights load once per process, however many servers it starts. */
function sharedSentenceEmbedder(): { embedder?: SentenceEmbedder; reason?: string } {
  shared ??= loadSentenceEmbedder();
  return shared;
}
