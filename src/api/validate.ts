import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { z } from 'zod';
import { problems } from './problem';

export function issuesOf(error: z.ZodError): Array<{ path: string; message: string }> {
  return error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message }));
}

/** Postgres cannot store U+0000 in text or jsonb, so a NUL anywhere is a client error, not a 500. */
function nulPaths(value: unknown, path: string[] = []): string[] {
  if (typeof value === 'string') return value.includes('\u0000') ? [path.join('.')] : [];
  if (Array.isArray(value)) return value.flatMap((v, i) => nulPaths(v, [...path, String(i)]));
  if (value && typeof value === 'object') {
    return Object.entries(value).flatMap(([k, v]) => (k.includes('\u0000') ? [[...path, k].join('.')] : nulPaths(v, [...path, k])));
  }
  return [];
}

interface Shapes<P, Q, B> {
  params?: z.ZodType<P>;
  query?: z.ZodType<Q>;
  body?: z.ZodType<B>;
}

export interface Parsed<P, Q, B> {
  params: P;
  query: Q;
  body: B;
}

/**
 * The one place requests are parsed: handlers receive typed params, query and body, and a
 * request that does not fit is answered 400 with the failing field paths before the handler
 * (and anything it would write) runs.
 */
export function route<P = unknown, Q = unknown, B = unknown>(
  shapes: Shapes<P, Q, B>,
  handler: (req: Request, res: Response, input: Parsed<P, Q, B>) => Promise<void>,
): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const parse = <T>(schema: z.ZodType<T> | undefined, value: unknown, where: string): T => {
      if (!schema) return undefined as T;
      const nul = nulPaths(value);
      if (nul.length) throw problems.validation(nul.map((p) => ({ path: p, message: 'must not contain the NUL character' })), where);
      const result = schema.safeParse(value);
      if (!result.success) throw problems.validation(issuesOf(result.error), where);
      return result.data;
    };
    Promise.resolve()
      .then(() => {
        if (shapes.body && req.headers['content-type'] !== undefined && !req.is('application/json')) {
          throw problems.unsupportedMediaType();
        }
        const input = {
          params: parse(shapes.params, { ...req.params }, 'path'),
          query: parse(shapes.query, { ...req.query }, 'query string'),
          body: parse(shapes.body, req.body, 'body'),
        };
        return handler(req, res, input);
      })
      .catch(next);
  };
}
