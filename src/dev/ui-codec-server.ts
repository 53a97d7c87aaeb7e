/**
 * Development only: the remote codec the Temporal Web UI of `npm start` calls, so an operator on
 * this machine reads runs in clear text with no setting. It decodes without authentication, so
 * it is only for a developer's own machine and guards that itself:
 *
 * - it listens on 127.0.0.1 only: no other machine can reach it;
 * - it answers only requests whose Host is its own loopback address (a DNS-rebinding page that
 *   resolves evil.example to 127.0.0.1 sends `Host: evil.example`) and whose Origin, when a
 *   browser sends one, is the Web UI at localhost or 127.0.0.1;
 * - CORS allows exactly those two UI origins.
 *
 * Production never runs this: the UI calls the API's `/codec`, which needs an operator's key and
 * decodes only that key's tenant's payloads (README, "Reading runs in the Web UI").
 */
import type { PayloadCodec } from '@temporalio/common';
import cors from 'cors';
import express, { type ErrorRequestHandler, type RequestHandler } from 'express';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PayloadDecryptionError } from '../codec/aes-gcm-codec';
import { CodecPayloads, fromJson, toJson } from '../codec/remote-codec';

export interface UiCodecServer {
  /** What the Web UI is given as its codec endpoint. */
  endpoint: string;
  close(): Promise<void>;
}

export interface UiCodecServerOptions {
  codec: PayloadCodec;
  /** The Web UI's port; it is allowed from http://localhost:<port> and http://127.0.0.1:<port>. */
  uiPort: number;
  namespace: string;
  /** 0 (default): a free port. */
  port?: number;
}

function problem(res: express.Response, status: number, slug: string, detail: string): void {
  res.status(status).type('application/problem+json').json({ type: `https://keel.dev/problems/${slug}`, title: detail, status, detail });
}

export async function startUiCodecServer(opts: UiCodecServerOptions): Promise<UiCodecServer> {
  const uiOrigins = [`http://localhost:${opts.uiPort}`, `http://127.0.0.1:${opts.uiPort}`];
  let ownHosts: string[] = [];
  const app = express();
  app.disable('x-powered-by');

  const sameMachineOnly: RequestHandler = (req, res, next) => {
    if (!ownHosts.includes(req.headers.host ?? '')) return problem(res, 403, 'forbidden-host', 'This development codec answers only on its loopback address.');
    const origin = req.headers.origin;
    if (origin !== undefined && !uiOrigins.includes(origin)) return problem(res, 403, 'forbidden-origin', 'This development codec answers only the local Temporal Web UI.');
    next();
  };
  app.use(sameMachineOnly);
  app.use(cors({ origin: uiOrigins, methods: ['POST'], allowedHeaders: ['Content-Type', 'X-Namespace', 'Authorization'], maxAge: 600 }));
  app.use(express.json({ limit: '8mb' }));

  for (const op of ['encode', 'decode'] as const) {
    app.post(`/${op}`, async (req, res) => {
      const namespace = req.headers['x-namespace'];
      if (namespace !== undefined && namespace !== opts.namespace) return problem(res, 400, 'validation-error', `Namespace "${String(namespace)}" is not served here.`);
      const parsed = CodecPayloads.safeParse(req.body);
      if (!parsed.success) return problem(res, 400, 'validation-error', 'The body is not a remote codec request ({ payloads: [...] }).');
      try {
        const payloads = await opts.codec[op](parsed.data.payloads.map(fromJson));
        res.json({ payloads: payloads.map(toJson) });
      } catch (err) {
        if (err instanceof PayloadDecryptionError) return problem(res, 422, 'undecodable-payload', err.message);
        throw err;
      }
    });
  }
  const fallback: ErrorRequestHandler = (err: unknown, _req, res, _next) => {
    const status = typeof err === 'object' && err !== null && 'status' in err && typeof err.status === 'number' && err.status < 500 ? err.status : 500;
    problem(res, status, status === 500 ? 'internal-error' : 'validation-error', status === 500 ? 'The codec failed.' : 'The request could not be read.');
  };
  app.use(fallback);

  const server: Server = await new Promise((resolve, reject) => {
    const s = app.listen(opts.port ?? 0, '127.0.0.1', () => resolve(s)).once('error', reject);
  });
  const { port } = server.address() as AddressInfo;
  ownHosts = [`127.0.0.1:${port}`, `localhost:${port}`];
  return {
    endpoint: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
