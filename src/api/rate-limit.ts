import type { RequestHandler } from 'express';
import type { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { problems } from './problem';

export interface RateLimitOptions {
  redis: Redis;
  keyPrefix: string;
  perMinute: number;
}

/**
 * Per-tenant request rate limit, counted in Redis so every API process shares one budget.
 * If Redis is unreachable the limiter falls back to a per-process in-memory budget of the same
 * size: requests keep flowing (Redis holds no data Keel cannot lose) but a tenant is still
 * bounded, by N times the limit across N processes, instead of unbounded.
 */
export function rateLimitPerTenant(opts: RateLimitOptions): RequestHandler {
  const duration = 60;
  const limiter = new RateLimiterRedis({
    storeClient: opts.redis,
    keyPrefix: `${opts.keyPrefix}ratelimit`,
    points: opts.perMinute,
    duration,
    rejectIfRedisNotReady: true,
    insuranceLimiter: new RateLimiterMemory({ keyPrefix: 'ratelimit-insurance', points: opts.perMinute, duration }),
  });
  return (req, res, next) => {
    const tenantId = req.auth?.tenantId;
    if (!tenantId) {
      next(problems.unauthorized());
      return;
    }
    limiter
      .consume(tenantId)
      .then((r) => {
        res.setHeader('RateLimit-Limit', String(opts.perMinute));
        res.setHeader('RateLimit-Remaining', String(r.remainingPoints));
        next();
      })
      .catch((err: unknown) => {
        if (err instanceof RateLimiterRes) next(problems.rateLimited(Math.max(1, Math.ceil(err.msBeforeNext / 1000))));
        else next(err);
      });
  };
}
