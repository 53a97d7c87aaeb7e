import type { RequestHandler } from 'express';
import type { KeelMetrics } from './metrics';

/** Times every request; the route label is the matched template, or `unmatched` for requests no route took. */
export function httpMetrics(metrics: KeelMetrics): RequestHandler {
  return (req, res, next) => {
    const end = metrics.httpRequestDuration.startTimer();
    res.once('finish', () => {
      const route = req.route ? `${req.baseUrl}${String((req.route as { path: unknown }).path)}` : 'unmatched';
      end({ method: req.method, route, status: String(res.statusCode) });
    });
    next();
  };
}
