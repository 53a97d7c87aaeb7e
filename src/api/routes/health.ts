import type { Client } from '@temporalio/client';
import { Router } from 'express';
import { z } from 'zod';
import type { Db } from '../../db/client';
import { defineRoute } from '../define-route';

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms).unref())]);
}

const Check = z.object({ ok: z.boolean(), error: z.string().optional() });
const Health = z.object({ status: z.literal('ok') });
const Readiness = z.object({ status: z.enum(['ready', 'not_ready']), checks: z.object({ postgres: Check, temporal: Check }) });

/** `/healthz`: the process answers. `/readyz`: it can do work (Postgres and Temporal answer). */
export function healthRouter(deps: { db: Db; temporal: Client }): Router {
  const router = Router();
  defineRoute(
    router,
    {
      method: 'get', path: '/healthz', tags: ['health'], scope: 'public', summary: 'Liveness',
      responses: { 200: { description: 'The process answers.', schema: Health, example: { status: 'ok' } } },
    },
    async (_req, res) => {
      res.json({ status: 'ok' });
    },
  );
  defineRoute(
    router,
    {
      method: 'get', path: '/readyz', tags: ['health'], scope: 'public', summary: 'Readiness',
      description: 'Ready when Postgres and Temporal answer within 2 s; `503` names the one that failed.',
      responses: {
        200: { description: 'Ready.', schema: Readiness, example: { status: 'ready', checks: { postgres: { ok: true }, temporal: { ok: true } } } },
        503: { description: 'Not ready.', schema: Readiness, example: { status: 'not_ready', checks: { postgres: { ok: true }, temporal: { ok: false, error: 'timed out after 2000 ms' } } } },
      },
    },
    async (_req, res) => {
      const check = async (fn: () => Promise<unknown>) => {
        try {
          await withTimeout(fn(), 2000);
          return { ok: true as const };
        } catch (err) {
          return { ok: false as const, error: err instanceof Error ? err.message : String(err) };
        }
      };
      const [postgres, temporal] = await Promise.all([
        check(() => deps.db.$queryRaw`SELECT 1`),
        check(() => deps.temporal.workflowService.getSystemInfo({})),
      ]);
      const ready = postgres.ok && temporal.ok;
      res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not_ready', checks: { postgres, temporal } });
    },
  );
  return router;
}
