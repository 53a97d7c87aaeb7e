import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { z } from 'zod';
import { isStorable, STORABLE_MESSAGE } from '../schemas/strings';
import { problems } from './problem';

type Issue = z.core.$ZodIssue;

/** The union branch whose keys the input has, when exactly one has: its issues say what is wrong. */
function fittingBranch(issue: Issue): Issue[] | undefined {
  if (issue.code !== 'invalid_union') return undefined;
  const misfit = (i: Issue) => i.code === 'unrecognized_keys' || (i.code === 'invalid_type' && /received undefined$/.test(i.message));
  const fitting = issue.errors.filter((branch) => !branch.some(misfit));
  return fitting.length === 1 ? fitting[0] : undefined;
}

export function issuesOf(error: { issues: Issue[] }, prefix: PropertyKey[] = []): Array<{ path: string; message: string }> {
  return error.issues.flatMap((i) => {
    const path = [...prefix, ...i.path];
    const branch = fittingBranch(i);
    return branch ? issuesOf({ issues: branch }, path) : [{ path: path.map(String).join('.'), message: i.message }];
  });
}

const MAX_DEPTH = 32;

/**
 * Checks every string and key against the rule every request schema also states (no NUL, no
 * lone surrogate: see src/schemas/strings.ts), so a string no schema looks at (a key of a
 * record, a value under `unknown`) cannot reach Postgres either; and nesting deeper than any Keel shape is refused before a recursive
 * walk (ours, zod's, Prisma's) can exhaust the stack. Iterative, so hostile input cannot do that here.
 */
function structuralIssues(value: unknown): Array<{ path: string; message: string }> {
  const issues: Array<{ path: string; message: string }> = [];
  const stack: Array<{ value: unknown; path: string[] }> = [{ value, path: [] }];
  while (stack.length && issues.length < 10) {
    const { value: v, path } = stack.pop()!;
    if (typeof v === 'string') {
      if (!isStorable(v)) issues.push({ path: path.join('.'), message: STORABLE_MESSAGE });
    } else if (v && typeof v === 'object') {
      if (path.length >= MAX_DEPTH) {
        issues.push({ path: path.join('.'), message: `is nested more than ${MAX_DEPTH} levels deep` });
        continue;
      }
      for (const [k, child] of Object.entries(v)) {
        if (!isStorable(k)) issues.push({ path: [...path, k].join('.'), message: STORABLE_MESSAGE });
        else stack.push({ value: child, path: [...path, k] });
      }
    }
  }
  return issues;
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
      const structural = structuralIssues(value);
      if (structural.length) throw problems.validation(structural, where);
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
