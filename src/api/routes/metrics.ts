import { Router } from 'express';
import { timingSafeEqual } from 'node:crypto';
import type { KeelMetrics } from '../../metrics/metrics';
import { defineRoute } from '../define-route';
import { HttpProblem } from '../problem';

function tokenMatches(header: string | undefined, token: string): boolean {
  const given = Buffer.from(header ?? '');
  const expected = Buffer.from(`Bearer ${token}`);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/**
 * `GET /metrics` in Prometheus text format. Not an API key's business: a scraper has no tenant, so
 * the route is `public` and, with `KEEL_METRICS_TOKEN` set, answers only a scraper holding that token.
 */
export function metricsRouter(metrics: KeelMetrics, token: string | undefined): Router {
  const router = Router();
  defineRoute(
    router,
    {
      method: 'get', path: '/metrics', tags: ['operations'], scope: 'public',
      summary: 'Prometheus metrics',
      description: 'Open when `KEEL_METRICS_TOKEN` is unset (keep it off the public port then); with it set, send `Authorization: Bearer <KEEL_METRICS_TOKEN>`, not an API key.',
      responses: {
        200: {
          description: 'The API process\'s metrics, in Prometheus text exposition format.',
          raw: { mediaTypes: { 'text/plain': { example: '# HELP keel_http_request_duration_seconds HTTP request duration\n# TYPE keel_http_request_duration_seconds histogram\n…' } } },
        },
      },
      // With a token configured, a scrape without it.
      problems: [401],
    },
    async (req, res) => {
      if (token !== undefined && !tokenMatches(req.headers.authorization, token)) {
        throw new HttpProblem(401, 'unauthorized', 'Unauthorized', 'Send the metrics token as `Authorization: Bearer <token>`.', {}, { 'WWW-Authenticate': 'Bearer realm="keel-metrics"' });
      }
      res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
    },
  );
  return router;
}
