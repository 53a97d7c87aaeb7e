import { z } from 'zod';
import { Scope } from '../auth/scopes';
import { unique, visibleText } from './strings';

export const CreateApiKeyRequest = z
  .object({
    name: visibleText(200),
    scopes: unique(z.array(Scope).min(1).max(10), 'must not repeat a scope'),
  })
  .strict()
  .meta({ id: 'CreateApiKeyRequest' });
export type CreateApiKeyRequest = z.infer<typeof CreateApiKeyRequest>;

/** A key's id, or its public prefix (`keel_<prefix>_…`). */
export const ApiKeyIdParams = z
  .object({ id: z.union([z.uuid(), z.string().regex(/^[a-z0-9]{12}$/, 'must be a key id or its 12-character prefix')]) })
  .strict();

export const ApiKeyView = z.object({
  id: z.string(),
  name: z.string(),
  prefix: z.string().meta({ description: 'The public part of the key: `keel_<prefix>_…`.' }),
  scopes: z.array(z.string()),
  createdAt: z.string(),
  revokedAt: z.string().nullable(),
  lastUsedAt: z.string().nullable(),
}).meta({ id: 'ApiKey' });
export type ApiKeyView = z.infer<typeof ApiKeyView>;

export const CreatedApiKey = ApiKeyView.extend({
  key: z.string().meta({ description: 'The whole key. Shown once: only its hash is stored.' }),
}).meta({ id: 'CreatedApiKey' });

export const ApiKeyList = z.object({ data: z.array(ApiKeyView) }).meta({ id: 'ApiKeyList' });
