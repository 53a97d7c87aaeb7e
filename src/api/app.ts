import type { Client } from '@temporalio/client';
import cors from 'cors';
import express, { type Express, type RequestHandler } from 'express';
import helmet from 'helmet';
import type { Redis } from 'ioredis';
import { randomUUID } from 'node:crypto';
import { pinoHttp } from 'pino-http';
import type { Logger } from 'pino';
import type { Config } from '../config';
import type { Db } from '../db/client';
import { authenticate } from './auth';
import { docsRouter } from './docs';
import { servedRoutes } from './openapi';
import { problemHandler, problems } from './problem';
import { rateLimitPerTenant } from './rate-limit';
import { adminKeysRouter } from './routes/admin-keys';
import { adminCacheRouter } from './routes/admin-cache';
import type { ResultCache } from '../cache';
import { guardrailsRouter } from './routes/guardrails';
import { healthRouter } from './routes/health';
import { documentsRouter } from './routes/documents';
import { operatorRouter } from './routes/operator';
import { runsRouter, startsRun } from './routes/runs';
import { traceRouter } from './routes/trace';
import { evalsRouter } from './routes/evals';
import type { ObjectStore } from '../storage';
import { codecRouter } from './routes/codec';
import { AesGcmPayloadCodec } from '../codec/aes-gcm-codec';
import { httpMetrics } from '../metrics/http';
import { metricsRouter } from './routes/metrics';
import { createMetrics, type KeelMetrics } from '../metrics/metrics';
import { httpTracing } from '../tracing/http';
import type { Tracer } from '@opentelemetry/api';
import { createRunService } from '../runs';

export interface ApiDeps {
  db: Db;
  temporal: Client;
  config: Config;
  log: Logger;
  store: ObjectStore;
  /** Shared rate-limit counters; the caller owns the connection. */
  redis: Redis;
  metrics?: KeelMetrics;
  /** The result cache; unset: no fast path and no purge beyond the epoch. */
  cache?: ResultCache;
  /** With tracing on: a server span per request, which the Temporal client carries into the workflow. */
  tracer?: Tracer;
}

/**
 * A known path asked with a method it does not serve: `405` with `Allow` (RFC 9110), not a 404.
 * The table is built from the served routes on first use, when every router is registered; route
 * paths use only `:name` segments, matched as Express does (case-insensitive, optional trailing slash).
 */
function methodNotAllowed(app: Express): RequestHandler {
  let table: Array<{ pattern: RegExp; allowed: string[] }> | undefined;
  const build = () => {
    const byPath = new Map<string, Set<string>>();
    for (const r of servedRoutes(app)) byPath.set(r.path, (byPath.get(r.path) ?? new Set()).add(r.method.toUpperCase()));
    return [...byPath].map(([path, methods]) => {
      if (methods.has('GET')) methods.add('HEAD');
      methods.add('OPTIONS');
      const source = path.split(/(:\w+)/).map((part) => (part.startsWith(':') ? '[^/]+' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))).join('');
      return { pattern: new RegExp(`^${source}/?$`, 'i'), allowed: [...methods].sort() };
    });
  };
  return (req, _res, next) => {
    table ??= build();
    const known = table.find((t) => t.pattern.test(req.path));
    next(known ? problems.methodNotAllowed(req.method, req.path, known.allowed) : undefined);
  };
}

/** The HTTP API. Stateless: any number of copies can serve any request. */
export function createApp(deps: ApiDeps): Express {
  const app = express();
  // Before the request logger: scrapes are timed but not logged.
  const metrics = deps.metrics ?? createMetrics('api');
  const runs = createRunService({ db: deps.db, temporal: deps.temporal, config: deps.config, store: deps.store, metrics, log: deps.log, cache: deps.cache });
  app.use(httpMetrics(metrics));
  app.use(metricsRouter(metrics, deps.config.KEEL_METRICS_TOKEN));
  if (deps.tracer) app.use(httpTracing(deps.tracer));
  app.disable('x-powered-by');
  app.set('trust proxy', /^\d+$/.test(deps.config.KEEL_TRUST_PROXY) ? Number(deps.config.KEEL_TRUST_PROXY) : deps.config.KEEL_TRUST_PROXY);
  // Plain-HTTP deployments (local, behind a TLS-terminating proxy) must not have /docs' assets upgraded.
  app.use(helmet({ contentSecurityPolicy: { directives: { upgradeInsecureRequests: null } } }));
  const origins = deps.config.KEEL_CORS_ORIGINS;
  if (origins.length) {
    app.use(cors({ origin: origins.includes('*') ? '*' : origins, exposedHeaders: ['Location', 'Retry-After', 'X-Request-Id', 'RateLimit-Limit', 'RateLimit-Remaining'], maxAge: 600 }));
  }
  app.use(
    pinoHttp({
      logger: deps.log,
      genReqId: (req, res) => {
        const incoming = req.headers['x-request-id'];
        const id = typeof incoming === 'string' && /^[\w.-]{1,128}$/.test(incoming) ? incoming : randomUUID();
        res.setHeader('X-Request-Id', id);
        return id;
      },
      // A run's id is also its workflow id; both names are logged so either search finds it.
      customProps: (req, res) => {
        const runId: unknown = res.locals.runId;
        return typeof runId === 'string' ? { tenant: req.auth?.tenantId, runId, workflowId: runId } : { tenant: req.auth?.tenantId };
      },
      // One short line per request: pino-http's default `res` serializer logs every response header
      // (helmet sets a dozen), which cost more CPU than the rest of the line (docs/lean-orchestration.md).
      serializers: {
        req: (req: { id: unknown; method: string; url: string }) => ({ id: req.id, method: req.method, url: req.url }),
        res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
      },
    }),
  );
  app.use(express.json({ limit: deps.config.KEEL_MAX_BODY_BYTES, strict: true, type: ['application/json', 'application/*+json'] }));
  app.use(healthRouter(deps));
  app.use(docsRouter(app));
  if (deps.config.KEEL_PAYLOAD_KEYS) {
    app.use(codecRouter({ db: deps.db, config: deps.config, codec: new AesGcmPayloadCodec(deps.config.KEEL_PAYLOAD_KEYS) }));
  }
  app.use('/v1', authenticate(deps.db, { lastUsedIntervalMs: deps.config.KEEL_KEY_LAST_USED_INTERVAL_MS, readsRunContext: startsRun }), rateLimitPerTenant({ redis: deps.redis, keyPrefix: deps.config.KEEL_REDIS_PREFIX, perMinute: deps.config.KEEL_RATE_LIMIT_PER_MINUTE }));
  app.use(runsRouter(runs));
  app.use(documentsRouter({ ...deps, runs }));
  app.use(operatorRouter(runs));
  app.use(traceRouter(deps));
  app.use(evalsRouter(deps));
  app.use(adminKeysRouter(deps));
  app.use(adminCacheRouter(deps));
  app.use(guardrailsRouter(deps));
  app.use(methodNotAllowed(app));
  app.use((req, _res, next) => next(problems.routeNotFound(req.method, req.path)));
  app.use(problemHandler(deps.log, deps.config.KEEL_REQUEST_TIMEOUT_MS));
  return app;
}
