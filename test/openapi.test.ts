import { Validator } from '@seriousme/openapi-schema-validator';
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Router } from 'express';
import pino from 'pino';
import { createApp } from '../src/api/app';
import { API_VERSION } from '../src/api/docs';
import { buildOpenApiDocument, servedRoutes, toOpenApiPath } from '../src/api/openapi';
import { generatePayloadKeyEntry } from '../src/codec/keys';
import { loadConfig } from '../src/config';
import { ResponseChecker, type OpenApiDoc } from './support/openapi-check';

/**
 * The document is generated from the routes the app serves. Building the app does no I/O, so
 * these tests need no stack: the clients are never called. A payload key is configured so that
 * the codec endpoints, mounted only then, are checked too.
 */
function offlineApp() {
  const config = loadConfig({ LOG_LEVEL: 'silent', KEEL_PAYLOAD_KEYS: generatePayloadKeyEntry('k1') });
  return createApp({ db: {} as never, temporal: { options: { namespace: 'default' } } as never, config, log: pino({ level: 'silent' }), redis: {} as never, store: {} as never });
}

/** Paths that need an API key; everything else is public (a token-guarded /metrics is not an API key). */
const keyed = (path: string) => path.startsWith('/v1/') || path.startsWith('/codec/');

describe('OpenAPI document', () => {
  const app = offlineApp();
  const doc = buildOpenApiDocument(app, { version: API_VERSION }) as unknown as OpenApiDoc & { openapi: string; components: { securitySchemes: object } };

  it('is a valid OpenAPI 3.1 document', async () => {
    assert.equal(doc.openapi, '3.1.0');
    const result = await new Validator().validate(doc as unknown as Record<string, unknown>);
    assert.equal(result.valid, true, JSON.stringify(result.errors, null, 2));
  });

  it('describes every route Express serves, and nothing else', () => {
    const served = servedRoutes(app);
    assert.ok(served.length >= 9, `only ${served.length} routes found: is the router walk broken?`);
    const undocumented = served.filter((r) => !r.spec).map((r) => `${r.method.toUpperCase()} ${r.path}`);
    assert.deepEqual(undocumented, [], 'register these with defineRoute');
    const inDoc = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m} ${path}`)).sort();
    assert.deepEqual(inDoc, served.map((r) => `${r.method} ${toOpenApiPath(r.path)}`).sort());
    for (const op of ['post /codec/decode', 'post /codec/encode', 'get /metrics', 'post /v1/documents', 'get /v1/documents/{id}/content']) assert.ok(inDoc.includes(op), op);
  });

  it('notices a route registered without its documentation', () => {
    const extra = offlineApp();
    const router = Router();
    router.get('/v1/secret-feature', (_req, res) => {
      res.json({});
    });
    extra.use(router);
    assert.deepEqual(servedRoutes(extra).filter((r) => !r.spec).map((r) => r.path), ['/v1/secret-feature']);
  });

  it('gives every operation a summary, a success response with an example, the auth scheme and problem responses', () => {
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, raw] of Object.entries(ops)) {
        const op = raw as unknown as {
          summary?: string;
          security?: Array<Record<string, string[]>>;
          'x-keel-scope'?: string;
          responses: Record<string, { content?: Record<string, { example?: unknown }> }>;
          requestBody?: { content: Record<string, { schema?: unknown }> };
        };
        const where = `${method} ${path}`;
        assert.ok(op.summary, `${where}: summary`);
        const success = Object.entries(op.responses).filter(([s]) => s.startsWith('2'));
        assert.ok(success.length > 0, `${where}: success response`);
        if (path !== '/openapi.json') assert.ok(success.some(([, r]) => Object.values(r.content ?? {}).some((m) => m.example !== undefined)), `${where}: example`);
        assert.ok(op.responses['500']?.content?.['application/problem+json'], `${where}: 500 problem`);
        if (keyed(path)) {
          assert.deepEqual(op.security, [{ apiKey: [] }], `${where}: security`);
          assert.ok(op['x-keel-scope'], `${where}: scope`);
          for (const s of ['401', '403', '429']) assert.ok(op.responses[s]?.content?.['application/problem+json'], `${where}: ${s}`);
        } else assert.deepEqual(op.security, [], `${where}: public`);
      }
    }
    assert.deepEqual(Object.keys(doc.components.securitySchemes), ['apiKey']);
    const ids = Object.values(doc.paths).flatMap((ops) => Object.values(ops).map((op) => (op as unknown as { operationId: string }).operationId));
    assert.equal(new Set(ids).size, ids.length, `operationIds repeat: ${ids.join(', ')}`);
    assert.ok(ids.includes('getV1RunsId'), ids.join(', '));
  });

  it('describes the multipart upload and the file download', () => {
    const upload = doc.paths['/v1/documents']!.post as unknown as {
      requestBody: { required: boolean; content: Record<string, { schema: { properties: Record<string, unknown>; required?: string[] } }> };
      responses: Record<string, unknown>;
    };
    assert.deepEqual(Object.keys(upload.requestBody.content), ['multipart/form-data']);
    assert.equal(upload.requestBody.required, true);
    const form = upload.requestBody.content['multipart/form-data']!.schema;
    const resolved = (form as { $ref?: string }).$ref
      ? (doc.components as unknown as { schemas: Record<string, typeof form> }).schemas[(form as unknown as { $ref: string }).$ref.split('/').pop()!]!
      : form;
    assert.deepEqual(Object.keys(resolved.properties).sort(), ['documentId', 'file', 'name']);
    assert.deepEqual(resolved.required, ['file']);
    for (const s of ['202', '200', '400', '403', '404', '413', '415']) assert.ok(upload.responses[s], `upload ${s}`);
    const download = doc.paths['/v1/documents/{id}/content']!.get as unknown as { responses: Record<string, { content: Record<string, unknown> }> };
    assert.ok(download.responses['200']!.content['application/pdf'], 'the download documents its media types');
    assert.ok(download.responses['404']!.content['application/problem+json']);
  });

  it('states what handlers enforce: exactly-one-of as oneOf, string rules as patterns, unique scopes', () => {
    const text = JSON.stringify(doc);
    const schemas = (doc.components as unknown as { schemas: Record<string, Record<string, unknown>> }).schemas;
    const extract = schemas.ExtractInput as { oneOf: Array<{ required: string[]; additionalProperties: boolean }> };
    assert.deepEqual(extract.oneOf.map((b) => [...b.required].sort().join('+')).sort(), ['documentId+schema', 'documentId+schemaName', 'schema+text', 'schemaName+text']);
    assert.ok(extract.oneOf.every((b) => b.additionalProperties === false));
    assert.ok(text.includes(JSON.stringify('^[^\\u0000]*$')), 'the NUL rule is a pattern');
    const list = (doc.paths['/v1/runs']!.get as unknown as { parameters: Array<{ name: string; schema: { pattern?: string } }> }).parameters;
    assert.equal(list.find((p) => p.name === 'cursor')?.schema.pattern, '^[A-Za-z0-9_-]{32}$');
    assert.equal((schemas.CreateApiKeyRequest as { properties: { scopes: { uniqueItems?: boolean } } }).properties.scopes.uniqueItems, true);
    const put = doc.paths['/v1/schemas/{name}']!.put as unknown as { responses: Record<string, unknown> };
    assert.ok(put.responses['422'], 'a JSON Schema Ajv cannot compile: a documented 422');
  });

  it('links created resources to the operations on them, and every link names an operation in the document', () => {
    const ops = new Map<string, unknown>();
    for (const item of Object.values(doc.paths)) for (const op of Object.values(item)) ops.set((op as unknown as { operationId: string }).operationId, op);
    const links: Array<{ from: string; name: string; operationId: string }> = [];
    for (const [id, op] of ops) {
      for (const res of Object.values((op as { responses: Record<string, { links?: Record<string, { operationId: string }> }> }).responses)) {
        for (const [name, link] of Object.entries(res.links ?? {})) links.push({ from: id, name, operationId: link.operationId });
      }
    }
    for (const l of links) assert.ok(ops.has(l.operationId), `${l.from} → ${l.name}: no operation ${l.operationId}`);
    const from = (id: string) => new Set(links.filter((l) => l.from === id).map((l) => l.operationId));
    for (const target of ['getV1RunsId', 'postV1RunsIdCancel', 'postV1RunsIdRetry', 'postV1RunsIdResume', 'getV1RunsIdAudit']) {
      assert.ok(from('postV1Runs').has(target), `a created run links to ${target}`);
      assert.ok(from('postV1Documents').has(target), `an upload's ingest run links to ${target}`);
    }
    assert.ok(from('postV1Documents').has('getV1DocumentsId'));
  });

  it('catches a response that does not match it', () => {
    const checker = new ResponseChecker(doc);
    assert.deepEqual(checker.check('GET', '/healthz', 200, 'application/json', { status: 'ok' }), []);
    assert.equal(checker.check('GET', '/healthz', 200, 'application/json', { status: 'fine' }).length, 1);
    assert.match(checker.check('GET', '/healthz', 418, 'application/json', {})[0] ?? '', /status not documented/);
    assert.match(checker.check('GET', '/v1/runs/x', 404, 'application/json', {})[0] ?? '', /content type/);
    assert.equal(checker.check('GET', '/v1/runs/x', 404, 'application/problem+json', { type: 'x' }).length, 1);
    assert.deepEqual(checker.check('GET', '/not/documented', 404, 'text/html', ''), []);
  });

  it('serves /openapi.json and interactive docs at /docs from node_modules', async () => {
    const server: Server = await new Promise((resolve) => {
      const s = offlineApp().listen(0, '127.0.0.1', () => resolve(s));
    });
    try {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const json = await fetch(`${base}/openapi.json`);
      assert.equal(json.status, 200);
      assert.deepEqual(await json.json(), JSON.parse(JSON.stringify(doc)));
      const page = await fetch(`${base}/docs/`);
      assert.equal(page.status, 200);
      const html = await page.text();
      assert.match(html, /swagger-ui/);
      assert.doesNotMatch(html, /https?:\/\/(?!127\.0\.0\.1)[^"']*\.(js|css)/, 'the page loads assets from another host');
      for (const asset of ['swagger-ui-bundle.js', 'swagger-ui.css', 'swagger-ui-init.js']) {
        const res = await fetch(`${base}/docs/${asset}`);
        assert.equal(res.status, 200, asset);
      }
      const init = await (await fetch(`${base}/docs/swagger-ui-init.js`)).text();
      assert.match(init, /\/openapi\.json/);
    } finally {
      await new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      });
    }
  });
});
