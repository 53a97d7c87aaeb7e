import type { Express } from 'express';
import { createServer, type Server } from 'node:http';

export interface ApiServer {
  server: Server;
  /** Stops accepting connections and resolves once in-flight requests are answered, or the grace period ends. */
  stop(): Promise<'drained' | 'grace-expired'>;
}

/**
 * Serves the app with a shutdown that loses no request: the listener closes at once (new
 * connections are refused, so a load balancer moves on), requests already received run to the
 * end, keep-alive connections are told to close after their current response, and after the
 * grace period whatever is left is cut.
 */
export function listen(app: Express, opts: { host: string; port: number; graceMs: number }): Promise<ApiServer> {
  let stopping: Promise<'drained' | 'grace-expired'> | undefined;
  const server = createServer((req, res) => {
    if (stopping) res.setHeader('Connection', 'close');
    void app(req, res);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve({
        server,
        stop() {
          stopping ??= new Promise((done) => {
            const timer = setTimeout(() => {
              server.closeAllConnections();
              done('grace-expired');
            }, opts.graceMs);
            server.close(() => {
              clearTimeout(timer);
              done('drained');
            });
            server.closeIdleConnections();
          });
          return stopping;
        },
      });
    });
  });
}
