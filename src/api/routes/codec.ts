import type { Payload } from '@temporalio/common';
import { Router, type RequestHandler } from 'express';
import { z } from 'zod';
import { PayloadDecryptionError, type AesGcmPayloadCodec } from '../../codec/aes-gcm-codec';
import { CodecPayloads, fromJson, toJson } from '../../codec/remote-codec';
import type { Config } from '../../config';
import type { Db } from '../../db/client';
import { authenticate, requireAuth } from '../auth';
import { defineRoute } from '../define-route';
import { HttpProblem, problems } from '../problem';

/**
 * Temporal's remote codec protocol, so the Web UI and `temporal workflow show --codec-endpoint`
 * can show operators decrypted payloads: `POST /codec/decode` and `/codec/encode` with
 * `{ payloads: [{ metadata: { k: base64 }, data: base64 }] }`. Only keys with the `operator`
 * scope may use it; the browser reaches it cross-origin from the Web UI's origin. It works for the
 * caller's tenant only: decode opens the payloads sealed for that tenant and hands back any other
 * encrypted payload still sealed; encode seals for that tenant.
 */

/** Built per app: the one namespace this deployment serves is the only value the header may take. */
const codecHeaders = (namespace: string) =>
  z.object({
    'x-namespace': z.enum([namespace]).optional().meta({ description: 'The Temporal namespace the payloads come from; only the one Keel serves is accepted.' }),
  });
/** `"hello"` as Temporal's JSON converter encodes it. */
const examplePlain = { payloads: [{ metadata: { encoding: 'anNvbi9wbGFpbg==' }, data: 'ImhlbGxvIg==' }] };
const exampleEncrypted = { payloads: [{ metadata: { encoding: 'YmluYXJ5L2VuY3J5cHRlZA==', 'encryption-key-id': 'azI=' }, data: 'q3JxZ2VyYXRlZA==' }] };
/** CORS for the Web UI's origin only; preflights are answered before authentication, as browsers send no credentials on them. */
function uiCors(uiUrl: string): RequestHandler {
  const allowed = new URL(uiUrl).origin;
  return (req, res, next) => {
    if (req.headers.origin === allowed) {
      res.vary('Origin');
      res.setHeader('Access-Control-Allow-Origin', allowed);
      res.setHeader('Access-Control-Allow-Credentials', 'true');
    }
    if (req.method === 'OPTIONS') {
      if (req.headers.origin === allowed) {
        res.setHeader('Access-Control-Allow-Methods', 'POST, OPTIONS');
        res.setHeader('Access-Control-Allow-Headers', 'Authorization, Content-Type, X-Namespace');
        res.setHeader('Access-Control-Max-Age', '600');
      }
      res.status(204).end();
      return;
    }
    next();
  };
}

export function codecRouter(deps: { db: Db; config: Config; codec: AesGcmPayloadCodec }): Router {
  const router = Router();
  router.use('/codec', uiCors(deps.config.TEMPORAL_UI_URL), authenticate(deps.db, { lastUsedIntervalMs: deps.config.KEEL_KEY_LAST_USED_INTERVAL_MS }));
  for (const op of ['encode', 'decode'] as const) {
    defineRoute(
      router,
      {
        method: 'post', path: `/codec/${op}`, tags: ['operations'], scope: 'operator',
        summary: op === 'decode' ? "Decrypt your tenant's Temporal payloads (remote codec)" : 'Encrypt Temporal payloads for your tenant (remote codec)',
        description: "Temporal's remote codec protocol, for the Web UI and `temporal workflow show --codec-endpoint <api>/codec`. Served only when `KEEL_PAYLOAD_KEYS` is set." + (op === 'decode' ? ' Payloads Keel encrypted (`encoding: binary/encrypted`) for your tenant are decrypted; others are returned as they are.' : ''),
        headers: codecHeaders(deps.config.TEMPORAL_NAMESPACE),
        // Decode's example is a plain payload, which it passes through: an encrypted example could
        // only name a key id this deployment does not hold.
        body: CodecPayloads, bodyExample: examplePlain,
        responses: { 200: { description: op === 'decode' ? "The caller's tenant's payloads in clear; any other encrypted payload unchanged." : "The payloads encrypted with the current key, bound to the caller's tenant.", schema: CodecPayloads, example: op === 'decode' ? examplePlain : exampleEncrypted } },
        // A payload that is not Keel's, was tampered with, or was encrypted with a key no longer configured.
        problems: [{ status: 422, description: 'A payload that is well formed but cannot be decoded: not Keel\'s, tampered with, or encrypted with a key id this deployment does not hold (`undecodable-payload`).' }],
      },
      async (req, res, { body }) => {
        const namespace = req.headers['x-namespace'];
        if (namespace !== undefined && namespace !== deps.config.TEMPORAL_NAMESPACE) {
          throw problems.validation([{ path: 'X-Namespace', message: `"${String(namespace)}" is not the namespace served here` }], 'header');
        }
        let payloads: Payload[];
        try {
          const { tenantId } = requireAuth(req);
          const input = body.payloads.map(fromJson);
          payloads = op === 'decode' ? await deps.codec.decodeForTenant(input, tenantId) : await deps.codec.encodeForTenant(input, tenantId);
        } catch (err) {
          if (err instanceof PayloadDecryptionError) throw new HttpProblem(422, 'undecodable-payload', 'Payload cannot be decoded', err.message);
          throw err;
        }
        res.json({ payloads: payloads.map(toJson) });
      },
    );
  }
  return router;
}
