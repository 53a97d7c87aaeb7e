import type { Express } from 'express';
import { createDocument, type ZodOpenApiOperationObject, type ZodOpenApiPathsObject, type ZodOpenApiResponsesObject } from 'zod-openapi';
import { z } from 'zod';
import { Problem } from '../schemas/problem';
import { specOf, type ResponseSpec, type RouteSpec } from './define-route';

/** A route as Express serves it: what the completeness test compares with the document. */
export interface ServedRoute {
  method: string;
  path: string;
  spec: RouteSpec | undefined;
}

interface Layer {
  route?: { path: unknown; methods: Record<string, boolean>; stack: Array<{ handle: unknown }> };
  handle?: { stack?: Layer[] };
}

/** Every route registered on the app, with the spec `defineRoute` attached (if any). */
export function servedRoutes(app: Express): ServedRoute[] {
  const out: ServedRoute[] = [];
  const walk = (stack: Layer[]) => {
    for (const layer of stack) {
      if (layer.route) {
        const spec = layer.route.stack.map((l) => specOf(l.handle)).find(Boolean);
        for (const [method, on] of Object.entries(layer.route.methods)) {
          if (on && method !== '_all') out.push({ method, path: String(layer.route.path), spec });
        }
      } else if (layer.handle?.stack) walk(layer.handle.stack);
    }
  };
  walk((app as unknown as { router: { stack: Layer[] } }).router.stack);
  return out;
}

export const toOpenApiPath = (expressPath: string) => expressPath.replace(/:(\w+)/g, '{$1}');

const problemResponse = (description: string) => ({
  description,
  content: { 'application/problem+json': { schema: Problem } },
});

const retryAfter = {
  'Retry-After': { description: 'Seconds to wait before retrying.', schema: { type: 'integer' as const } },
};

/** What the statuses an operation declares in `problems` usually mean; an operation may say more. */
const EXTRA_PROBLEMS: Record<number, string> = {
  404: 'Something the request names (not in its path) does not exist in your tenant (`not-found`).',
  409: "The resource's state does not allow this now; the problem `type` says which conflict.",
  422: 'The request has the documented shape, but its content cannot be used for a reason JSON Schema cannot state; `errors` names the fields (`unprocessable-content`).',
};

/** Which problems an operation can answer, from what it declares: auth, scope, parsing, ids. */
function problemResponses(spec: RouteSpec): ZodOpenApiResponsesObject {
  const r: ZodOpenApiResponsesObject = {};
  if (spec.params || spec.query || spec.body || spec.multipart || spec.headers) r['400'] = problemResponse('The request is not valid (`validation-error`, `malformed-json`, `malformed-body`); `errors` lists the failing fields. Besides what the schemas say: a JSON string holding a lone UTF-16 surrogate escape (`"\\ud800"`), which is not Unicode text, and JSON nested more than 32 levels deep.');
  if (spec.scope !== 'public') {
    r['401'] = problemResponse('No key, or a key that is unknown, malformed or revoked (`unauthorized`).');
    r['403'] = problemResponse('The key lacks the scope this operation needs (`insufficient-scope`).');
    r['429'] = { ...problemResponse("The tenant's rate limit (`rate-limited`) or in-flight quota (`concurrency-limit`) is reached."), headers: retryAfter };
  }
  if (spec.params) r['404'] = problemResponse("Not found (`not-found`), including another tenant's resource: never 403, so ids cannot be probed.");
  if (spec.body) {
    r['413'] = problemResponse('The body is over the size limit (`payload-too-large`).');
    r['415'] = problemResponse('The body is not `application/json` (`unsupported-media-type`).');
  }
  if (spec.multipart) {
    r['413'] = problemResponse('The upload is over the size limit (`payload-too-large`).');
    r['415'] = problemResponse('The body is not `multipart/form-data`, or the file is of a type Keel does not read (`unsupported-media-type`).');
  }
  for (const p of spec.problems ?? []) {
    const [status, description] = typeof p === 'number' ? [p, EXTRA_PROBLEMS[p] ?? 'See the problem `type`.'] : [p.status, p.description];
    r[String(status) as `4${string}`] = problemResponse(description);
  }
  r['500'] = problemResponse('An unexpected error; it was logged (`internal-error`).');
  r['503'] = { ...problemResponse('A dependency is unavailable or the request timed out (`service-unavailable`, `request-timeout`).'), headers: retryAfter };
  return r;
}

/** `get /v1/runs/:id` → `getV1RunsId`: stable, unique per method and path. */
export function operationId(spec: Pick<RouteSpec, 'method' | 'path'>): string {
  const words = spec.path.split(/[^A-Za-z0-9]+/).filter(Boolean);
  return spec.method + words.map((w) => w[0]!.toUpperCase() + w.slice(1)).join('');
}

function operation(spec: RouteSpec): ZodOpenApiOperationObject {
  const responses: ZodOpenApiResponsesObject = {};
  const linksOf = (links: NonNullable<ResponseSpec['links']>) =>
    Object.fromEntries(
      Object.entries(links).map(([name, l]) => [name, { operationId: operationId(l), parameters: l.parameters, ...(l.description ? { description: l.description } : {}) }]),
    );
  for (const [status, res] of Object.entries(spec.responses)) {
    const example = res.example !== undefined ? { example: res.example } : {};
    const raw = res.raw;
    if (raw && res.schema) throw new Error(`${spec.method} ${spec.path} → ${status}: a JSON schema or a raw body, not both`);
    responses[status as `2${string}`] = {
      description: res.description,
      ...(res.headers ? { headers: Object.fromEntries(Object.entries(res.headers).map(([h, d]) => [h, { description: d, schema: { type: 'string' as const } }])) } : {}),
      ...(res.links ? { links: linksOf(res.links) } : {}),
      ...(res.schema ? { content: { 'application/json': { schema: res.schema, ...example } } } : {}),
      ...(raw
        ? { content: Object.fromEntries(Object.entries(raw.mediaTypes).map(([t, m]) => [t, { ...(raw.binary ? {} : { schema: { type: 'string' as const } }), ...(m.example !== undefined ? { example: m.example } : {}) }])) }
        : {}),
    };
  }
  const requestParams: ZodOpenApiOperationObject['requestParams'] = {};
  if (spec.params) requestParams.path = spec.params as z.ZodObject;
  if (spec.query) requestParams.query = spec.query as z.ZodObject;
  if (spec.headers) requestParams.header = spec.headers;
  return {
    operationId: operationId(spec),
    summary: spec.summary,
    description: [spec.description, spec.scope === 'public' ? 'No key needed.' : `Needs a key with the \`${spec.scope}\` scope.`].filter(Boolean).join('\n\n'),
    tags: spec.tags,
    ...(spec.scope === 'public' ? { security: [] } : { security: [{ apiKey: [] }], 'x-keel-scope': spec.scope }),
    ...(spec.params || spec.query || spec.headers ? { requestParams } : {}),
    ...(spec.body
      ? { requestBody: { required: !spec.body.safeParse(undefined).success, content: { 'application/json': { schema: spec.body, ...(spec.bodyExample !== undefined ? { example: spec.bodyExample } : {}) } } } }
      : {}),
    ...(spec.multipart
      ? { requestBody: { required: true, content: { 'multipart/form-data': { schema: spec.multipart.schema, ...(spec.multipart.example !== undefined ? { example: spec.multipart.example } : {}) } } } }
      : {}),
    responses: { ...problemResponses(spec), ...responses },
  };
}

export type OpenApiDocument = ReturnType<typeof createDocument>;

/**
 * The OpenAPI 3.1 document, generated from the routes the app serves and their zod schemas.
 * Routes registered without `defineRoute` are left out here and caught by the completeness test.
 */
export function buildOpenApiDocument(app: Express, info: { version: string; serverUrl?: string }): OpenApiDocument {
  const paths: ZodOpenApiPathsObject = {};
  for (const r of servedRoutes(app)) {
    if (!r.spec) continue;
    const path = toOpenApiPath(r.spec.path);
    paths[path] = { ...paths[path], [r.spec.method]: operation(r.spec) };
  }
  return createDocument(
    {
      openapi: '3.1.0',
      info: {
        title: 'Keel API',
        version: info.version,
        description:
          'Durable AI workflows on Temporal. Every `/v1` operation needs `Authorization: Bearer <key>`; the key decides the tenant and carries scopes (`x-keel-scope` on each operation). Errors are `application/problem+json` (RFC 9457) with a stable `type`.',
      },
      ...(info.serverUrl ? { servers: [{ url: info.serverUrl }] } : {}),
      paths,
      components: {
        securitySchemes: {
          apiKey: { type: 'http', scheme: 'bearer', bearerFormat: 'keel_<prefix>_<secret>', description: 'An API key from `POST /v1/admin/keys` or `npm run keys -- create`.' },
        },
      },
    },
    { allowEmptySchema: { unknown: true, any: true } },
  );
}
