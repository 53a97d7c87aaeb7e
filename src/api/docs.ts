import { Router, type Express } from 'express';
import swaggerUi from 'swagger-ui-express';
import { z } from 'zod';
import { defineRoute } from './define-route';
import { buildOpenApiDocument, type OpenApiDocument } from './openapi';

export const API_VERSION = '1.0.0';

/**
 * `/openapi.json` and the interactive docs at `/docs` (Swagger UI, served from node_modules: no
 * CDN). The document is built on first use, when every router is registered on `app`.
 */
export function docsRouter(app: Express): Router {
  const router = Router();
  let doc: OpenApiDocument | undefined;
  const document = () => (doc ??= buildOpenApiDocument(app, { version: API_VERSION }));
  defineRoute(
    router,
    {
      method: 'get', path: '/openapi.json', tags: ['docs'], scope: 'public',
      summary: 'This OpenAPI 3.1 document',
      responses: { 200: { description: 'The document, generated from the zod schemas of the routes.', schema: z.record(z.string(), z.unknown()) } },
    },
    async (_req, res) => {
      res.json(document());
    },
  );
  const page = swaggerUi.setup(undefined, { swaggerOptions: { url: '/openapi.json' }, customSiteTitle: 'Keel API' });
  router.use('/docs', swaggerUi.serveFiles(undefined, { swaggerOptions: { url: '/openapi.json' } }), page);
  return router;
}
