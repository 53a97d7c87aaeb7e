import { createServer, type Server } from 'node:http';
import type { KeelMetrics } from '../metrics/metrics';

/**
 * The worker's one scrape target: Keel's own metrics, followed by the Temporal SDK's (poll and
 * task latencies, slots, sticky cache...), which Temporal Core serves on a loopback-only port.
 * One target per worker keeps Prometheus configuration the same however many workers run.
 */
export function startWorkerMetricsServer(opts: {
  metrics: KeelMetrics;
  host: string;
  port: number;
  sdkMetricsUrl?: string;
}): Promise<Server> {
  const sdkMetrics = async (): Promise<string> => {
    if (!opts.sdkMetricsUrl) return '';
    try {
      const res = await fetch(opts.sdkMetricsUrl, { signal: AbortSignal.timeout(2000) });
      return res.ok ? await res.text() : `# Temporal SDK metrics unavailable: HTTP ${res.status}\n`;
    } catch {
      return '# Temporal SDK metrics unavailable\n';
    }
  };
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || req.url?.split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    Promise.all([opts.metrics.registry.metrics(), sdkMetrics()])
      .then(([keel, sdk]) => {
        res.writeHead(200, { 'content-type': opts.metrics.registry.contentType }).end(`${keel}\n${sdk}`);
      })
      .catch(() => {
        res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics unavailable\n');
      });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}
