import type { Request, RequestHandler, Response, Router } from 'express';
import type { z } from 'zod';
import type { Scope } from '../auth/scopes';
import { requireScope } from './scopes';
import { route, type Parsed } from './validate';

export type HttpMethod = 'get' | 'post' | 'put' | 'patch' | 'delete';

export interface ResponseSpec {
  description: string;
  /** A JSON body (`application/json`). */
  schema?: z.ZodType;
  example?: unknown;
  /**
   * A body that is not JSON (a downloaded file, Prometheus text): the media types it may come in,
   * each with an optional example; `binary` bodies get no schema (OpenAPI 3.1's way to say "bytes"),
   * others are a string. Exclusive with `schema`.
   */
  raw?: { binary?: boolean; mediaTypes: Record<string, { example?: unknown }> };
  /** Response headers worth documenting, e.g. `Location`. */
  headers?: Record<string, string>;
  /**
   * OpenAPI links: operations a client (or a stateful tester) can call next with values from this
   * response, named by method and Express path; `parameters` maps their parameters to runtime
   * expressions such as `$response.body#/id`. The operation ids are derived when the document is built.
   */
  links?: Record<string, { method: HttpMethod; path: string; parameters: Record<string, string>; description?: string }>;
}

/** A problem status an operation answers beyond the implied ones, with why when the default says too little. */
export type ProblemSpec = number | { status: number; description: string };

/**
 * Everything the OpenAPI document says about one operation. `defineRoute` registers the Express
 * handler and attaches this to it, so the document is generated from the router itself: a route
 * cannot be served without being described, and the completeness test walks the router to prove it.
 */
export interface RouteSpec<P = unknown, Q = unknown, B = unknown> {
  method: HttpMethod;
  /** Express path, absolute (routers are mounted at the root): `/v1/runs/:id`. */
  path: string;
  summary: string;
  description?: string;
  tags: string[];
  /** The scope a key needs; `'public'` for the few routes reachable without a key. */
  scope: Scope | 'public';
  params?: z.ZodType<P>;
  query?: z.ZodType<Q>;
  body?: z.ZodType<B>;
  bodyExample?: unknown;
  /**
   * A `multipart/form-data` request body, documented only: the handler streams it itself (to
   * enforce a size limit while reading), so no JSON body is parsed or required. Exclusive with `body`.
   */
  multipart?: { schema: z.ZodType; example?: unknown };
  /** Request headers, documented only: a handler that takes one parses it itself. */
  headers?: z.ZodObject;
  responses: Record<number, ResponseSpec>;
  /** Problem statuses beyond the ones implied by the spec (auth, validation, 404 for path ids...). */
  problems?: ProblemSpec[];
}

export const ROUTE_SPEC = Symbol.for('keel.routeSpec');

export type DocumentedHandler = RequestHandler & { [ROUTE_SPEC]?: RouteSpec };

export function specOf(handler: unknown): RouteSpec | undefined {
  return typeof handler === 'function' ? (handler as DocumentedHandler)[ROUTE_SPEC] : undefined;
}

/** Registers a route on `router`: scope check, zod parsing (400 with field paths), then `handler`. */
export function defineRoute<P = unknown, Q = unknown, B = unknown>(
  router: Router,
  spec: RouteSpec<P, Q, B>,
  handler: (req: Request, res: Response, input: Parsed<P, Q, B>) => Promise<void>,
): void {
  if (!spec.path.startsWith('/')) throw new Error(`route path must be absolute: ${spec.path}`);
  if (spec.body && spec.multipart) throw new Error(`${spec.method} ${spec.path}: a JSON body or a multipart one, not both`);
  const parsed: DocumentedHandler = route({ params: spec.params, query: spec.query, body: spec.body }, handler);
  parsed[ROUTE_SPEC] = spec;
  const chain: RequestHandler[] = spec.scope === 'public' ? [parsed] : [requireScope(spec.scope), parsed];
  router[spec.method](spec.path, ...chain);
}
