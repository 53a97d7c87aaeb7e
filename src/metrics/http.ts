import type { RequestHandler } from 'express';
import { timingSafeEqual } from 'node:crypto';
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

function tokenMatches(header: string | undefined, token: string): boolean {
  const given = Buffer.from(header ?? '');
  const expected = Buffer.from(`Bearer ${token}`);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** `GET /metrics` in Prometheus text format; with a token configured, only a scraper holding it gets an answer. */
export function metricsHandler(metrics: KeelMetrics, token: string | undefined): RequestHandler {
  return (req, res, next) => {
    if (token !== undefined && !tokenMatches(req.headers.authorization, token)) {
      res.status(401).set('WWW-Authenticate', 'Bearer realm="keel-metrics"').type('application/problem+json').json({
        type: 'https://keel.dev/problems/unauthorized',
        title: 'Unauthorized',
        status: 401,
        detail: 'Send the metrics token as `Authorization: Bearer <token>`.',
      });
      return;
    }
    metrics.registry
      .metrics()
      .then((body) => res.type(metrics.registry.contentType).send(body))
      .catch(next);
  };
}
