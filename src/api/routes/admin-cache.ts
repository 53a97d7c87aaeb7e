import { Router } from 'express';
import { z } from 'zod';
import type { ResultCache } from '../../cache';
import type { Db } from '../../db/client';
import { CachePurged } from '../../schemas/runs';
import { requireAuth } from '../auth';
import { defineRoute } from '../define-route';

export const CacheSettingsView = z.object({
  enabled: z.boolean().meta({ description: 'false: this tenant\'s runs neither look up nor store results.' }),
  ttlSeconds: z.number().int().positive().max(31_536_000).nullable().meta({ description: 'How long a result is served, at most a year; null: the deployment default (KEEL_CACHE_TTL_SECONDS).' }),
  similarityThreshold: z.number().min(0.5).max(1).nullable().meta({ description: 'Cosine a paraphrase needs for a semantic hit; null: KEEL_CACHE_SIMILARITY_THRESHOLD. 1 turns the semantic tier off in effect.' }),
}).meta({ id: 'CacheSettings' });

const UpdateCacheSettings = CacheSettingsView.partial().strict();

/** The tenant's result cache (scope `admin`): settings and purge. */
export function adminCacheRouter(deps: { db: Db; cache?: ResultCache }): Router {
  const { db } = deps;
  const router = Router();
  const settingsOf = async (tenantId: string) => {
    const t = await db.tenant.findUniqueOrThrow({ where: { id: tenantId }, select: { cacheEnabled: true, cacheTtlSeconds: true, cacheSimilarityThreshold: true } });
    return { enabled: t.cacheEnabled, ttlSeconds: t.cacheTtlSeconds, similarityThreshold: t.cacheSimilarityThreshold };
  };
  const example = { enabled: true, ttlSeconds: 3600, similarityThreshold: null };

  defineRoute(
    router,
    {
      method: 'get', path: '/v1/admin/cache/settings', tags: ['admin'], scope: 'admin',
      summary: "Your tenant's cache settings",
      description: 'Opt-out, TTL and semantic similarity threshold of the result cache (docs/caching.md).',
      responses: { 200: { description: 'The settings.', schema: CacheSettingsView, example } },
    },
    async (req, res) => {
      const { tenantId } = requireAuth(req);
      res.json(await settingsOf(tenantId));
    },
  );

  defineRoute(
    router,
    {
      method: 'put', path: '/v1/admin/cache/settings', tags: ['admin'], scope: 'admin',
      summary: "Change your tenant's cache settings",
      description: 'Fields left out keep their value; `null` returns a field to the deployment default. Applies to lookups from the next request on.',
      body: UpdateCacheSettings, bodyExample: { enabled: false },
      responses: { 200: { description: 'The settings now.', schema: CacheSettingsView, example } },
    },
    async (req, res, { body }) => {
      const { tenantId } = requireAuth(req);
      await db.tenant.update({
        where: { id: tenantId },
        data: {
          ...(body.enabled !== undefined ? { cacheEnabled: body.enabled } : {}),
          ...(body.ttlSeconds !== undefined ? { cacheTtlSeconds: body.ttlSeconds } : {}),
          ...(body.similarityThreshold !== undefined ? { cacheSimilarityThreshold: body.similarityThreshold } : {}),
        },
      });
      res.json(await settingsOf(tenantId));
    },
  );

  defineRoute(
    router,
    {
      method: 'delete', path: '/v1/admin/cache', tags: ['admin'], scope: 'admin',
      summary: "Purge your tenant's cache",
      description: "Every cached result of the tenant becomes unreachable at once, on every API and worker process (the tenant's cache epoch is part of every key), and its Redis keys are deleted.",
      responses: { 200: { description: 'Purged.', schema: CachePurged, example: { epoch: 3, deleted: 120 } } },
    },
    async (req, res) => {
      const { tenantId } = requireAuth(req);
      if (!deps.cache) {
        const t = await db.tenant.update({ where: { id: tenantId }, data: { cacheEpoch: { increment: 1 } }, select: { cacheEpoch: true } });
        res.json({ epoch: t.cacheEpoch, deleted: null });
        return;
      }
      res.json(await deps.cache.purge(tenantId));
    },
  );
  return router;
}
