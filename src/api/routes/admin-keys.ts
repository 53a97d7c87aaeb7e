import { Router } from 'express';
import type { Db } from '../../db/client';
import { createApiKey, listApiKeys, revokeApiKey } from '../../auth/key-admin';
import { ApiKeyIdParams, ApiKeyList, ApiKeyView, CreateApiKeyRequest, CreatedApiKey } from '../../schemas/api-keys';
import { requireAuth } from '../auth';
import { defineRoute } from '../define-route';
import { problems } from '../problem';

const exampleKey = {
  id: '6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f',
  name: 'ci pipeline',
  prefix: 'a1b2c3d4e5f6',
  scopes: ['runs:write', 'runs:read'],
  createdAt: '2026-01-05T10:00:00.000Z',
  revokedAt: null,
  lastUsedAt: null,
};

/** Key management for the caller's own tenant (scope `admin`). Tenants are created with `npm run keys`. */
export function adminKeysRouter(deps: { db: Db }): Router {
  const { db } = deps;
  const router = Router();
  defineRoute(
    router,
    {
      method: 'post', path: '/v1/admin/keys', tags: ['admin'], scope: 'admin',
      summary: 'Create an API key for your tenant',
      description: 'The response carries the whole key once; only its SHA-256 is stored. A key can grant only scopes it holds itself: an `admin`-only key creates `admin` keys, never `runs:write` or `operator` ones (403 `scope-not-held`).',
      body: CreateApiKeyRequest, bodyExample: { name: 'ci pipeline', scopes: ['runs:write', 'runs:read'] },
      responses: {
        201: {
          description: 'The new key.', schema: CreatedApiKey, example: { ...exampleKey, key: 'keel_a1b2c3d4e5f6_…' },
          links: { RevokeKey: { method: 'delete', path: '/v1/admin/keys/:id', parameters: { id: '$response.body#/id' } } },
        },
      },
    },
    async (req, res, { body }) => {
      const { tenantId, scopes } = requireAuth(req);
      const notHeld = body.scopes.filter((s) => !scopes.includes(s));
      if (notHeld.length > 0) throw problems.scopeNotHeld(notHeld);
      const created = await createApiKey(db, tenantId, body.name, body.scopes);
      res.status(201).json(created);
    },
  );
  defineRoute(
    router,
    {
      method: 'get', path: '/v1/admin/keys', tags: ['admin'], scope: 'admin',
      summary: "List your tenant's API keys",
      description: 'Newest first, revoked ones included; never the secret.',
      responses: { 200: { description: 'The keys.', schema: ApiKeyList, example: { data: [exampleKey] } } },
    },
    async (req, res) => {
      const { tenantId } = requireAuth(req);
      res.json({ data: await listApiKeys(db, tenantId) });
    },
  );
  defineRoute(
    router,
    {
      method: 'delete', path: '/v1/admin/keys/:id', tags: ['admin'], scope: 'admin',
      summary: 'Revoke an API key',
      description: 'By id or public prefix. Takes effect at once on every API process; idempotent.',
      params: ApiKeyIdParams,
      responses: { 200: { description: 'The revoked key.', schema: ApiKeyView, example: { ...exampleKey, revokedAt: '2026-01-06T09:00:00.000Z' } } },
    },
    async (req, res, { params }) => {
      const { tenantId } = requireAuth(req);
      const revoked = await revokeApiKey(db, tenantId, params.id);
      if (!revoked) throw problems.notFound(`API key ${params.id}`);
      res.json(revoked);
    },
  );
  return router;
}
