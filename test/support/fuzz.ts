/**
 * A schema-driven fuzzer: from the API's OpenAPI document it builds fast-check arbitraries of
 * malformed requests (bad path ids, wrong query values, mutated and garbage bodies, odd content
 * types and keys) and checks every answer: no 5xx, every rejection is problem+json, and every
 * response fits the document. `npm test` runs a few hundred; `npm run fuzz` thousands.
 */
import fc from 'fast-check';
import { ResponseChecker, type OpenApiDoc } from './openapi-check';

interface Parameter {
  in: string;
  name: string;
  schema?: { enum?: unknown[]; type?: string; format?: string; default?: unknown };
}

interface Operation {
  parameters?: Parameter[];
  requestBody?: { content: Record<string, { example?: unknown }> };
}

export interface FuzzRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
}

export interface FuzzResult {
  requests: number;
  byStatus: Record<string, number>;
  accepted: Record<string, number>;
}

/**
 * Strings Postgres, JSON and the sanitizer trip on: lone UTF-16 surrogates (JSON.stringify writes
 * them as `\ud800` escapes, which JSON.parse turns back into unpaired surrogates), NULs, and text
 * of invisible characters only.
 */
const hostileString = fc.oneof(
  fc.constantFrom('\uD800', '\uDFFF', 'a\uD83D', '\uDE00b', 'x\u0000y', '\u0000', '\u200B\u200C\uFEFF', '\u202E\u2066'),
  fc.tuple(fc.string({ maxLength: 10 }), fc.constantFrom('\uD800', '\uDBFF', '\uDC00', '\u0000'), fc.string({ maxLength: 10 })).map(([a, b, c]) => a + b + c),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
);

/** Dates at and past the edges: year 0, negative years, beyond JavaScript's ±275760. */
const extremeDates = [
  '0000-01-01T00:00:00Z', '0000-01-01T00:00:00.000Z', '-000001-01-01T00:00:00Z', '-271821-04-20T00:00:00Z',
  '+275760-09-13T00:00:00Z', '+275760-09-13T00:00:00.001Z', '+275761-01-01T00:00:00Z', '9999-12-31T23:59:59.999Z', '0001-01-01T00:00:00Z',
];

/** Cursors as the API writes them (base64url JSON), with extreme dates and hostile ids. */
const cursor = fc
  .tuple(fc.constantFrom(...extremeDates, '2026-01-05T10:00:00.000Z', 'not a date'), fc.oneof(hostileString, fc.constantFrom('0193a0f2-7c1e-7d3a-9b1e-2f4c5d6e7f80', 'id\u0000', '')))
  .map(([createdAt, id]) => Buffer.from(JSON.stringify({ createdAt, id })).toString('base64url'));

const text = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  hostileString,
  fc.constantFrom('', ' ', '..', '%', '%00', '\u0000', '%E0%A4%A', '%ZZ', 'null', 'undefined', 'NaN', '-1', '0', '1e309', '__proto__', 'constructor', "' OR 1=1 --", '😀'.repeat(50), 'a'.repeat(500)),
);

/** URLs carry UTF-8, which has no lone surrogates: they go as U+FFFD (bodies keep them raw). */
const encode = (s: string) => encodeURIComponent(s.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD'));

/** A path segment: mostly percent-encoded, sometimes raw (so broken escapes reach the router). */
const segment = fc.oneof(
  text.map(encode),
  // Dot segments: fetch resolves them, so the request reaches another route (or the parent collection).
  fc.constantFrom('%E0%A4%A', '%ZZ', '%', '%2F..%2F', '.', '..', '%2E', '0193a0f2-7c1e-7d3a-9b1e-2f4c5d6e7f80', 'ffffffff-ffff-7fff-bfff-ffffffffffff'),
);

function valueFor(p: Parameter): fc.Arbitrary<string> {
  const plausible: string[] = [];
  if (p.schema?.enum) plausible.push(...p.schema.enum.map(String));
  if (p.schema?.format === 'date-time') plausible.push('2026-01-05T10:00:00Z', '2026-02-30T10:00:00Z', '2026-01-05', ...extremeDates);
  if (p.schema?.type === 'integer') plausible.push('1', '20', '100', '101', '0', '-5', '2.5', '9999999999999999999');
  if (p.name === 'cursor') return fc.oneof(cursor, text);
  return plausible.length ? fc.oneof(fc.constantFrom(...plausible), text) : text;
}

const query = (params: Parameter[]) =>
  fc
    .tuple(
      ...params.filter((p) => p.in === 'query').map((p) => fc.option(fc.array(valueFor(p), { minLength: 1, maxLength: 2 }).map((vs) => vs.map((v) => [p.name, v] as const)), { freq: 2 })),
      fc.option(fc.tuple(text, text).map(([k, v]) => [[k, v] as const]), { freq: 4 }),
      fc.option(fc.constantFrom([['a[b]', 'c'] as const], [['status[]', 'queued'] as const], [['limit', ''] as const]), { freq: 4 }),
    )
    .map((parts) => {
      const pairs = parts.flatMap((p) => p ?? []);
      return pairs.length ? `?${pairs.map(([k, v]) => `${encode(k)}=${encode(v)}`).join('&')}` : '';
    });

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Every place in a JSON value, as key paths, so a mutation can hit any field. */
function pathsOf(value: unknown, prefix: Array<string | number> = []): Array<Array<string | number>> {
  const out = [prefix];
  if (Array.isArray(value)) value.forEach((v, i) => out.push(...pathsOf(v, [...prefix, i])));
  else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) out.push(...pathsOf(v, [...prefix, k]));
  return out;
}

function mutate(example: unknown, pathIndex: number, action: 'replace' | 'delete' | 'add', value: Json, key: string): unknown {
  const copy = structuredClone(example) as Json;
  const paths = pathsOf(copy);
  const path = paths[pathIndex % paths.length]!;
  if (path.length === 0) return action === 'replace' ? value : copy;
  let parent: Json = copy;
  for (const k of path.slice(0, -1)) parent = (parent as Record<string | number, Json>)[k]!;
  const last = path.at(-1)!;
  const target = parent as Record<string | number, Json>;
  if (action === 'replace') target[last] = value;
  else if (action === 'delete') delete target[last];
  else {
    const child = target[last];
    if (child && typeof child === 'object' && !Array.isArray(child)) child[key] = value;
    else target[last] = { [key]: value };
  }
  return copy;
}

function body(example: unknown): fc.Arbitrary<string> {
  const mutated = fc
    .record({
      pathIndex: fc.nat(),
      action: fc.constantFrom('replace' as const, 'delete' as const, 'add' as const),
      value: fc.oneof({ arbitrary: fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<Json>, weight: 3 }, { arbitrary: hostileString, weight: 1 }, { arbitrary: fc.constantFrom(...extremeDates), weight: 1 }),
      key: text,
    })
    .map(({ pathIndex, action, value, key }) => JSON.stringify(mutate(example, pathIndex, action, value, key)));
  return fc.oneof(
    { arbitrary: mutated, weight: 5 },
    { arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)), weight: 2 },
    { arbitrary: text, weight: 1 },
    { arbitrary: fc.nat({ max: 5000 }).map((n) => '['.repeat(n) + ']'.repeat(n)), weight: 1 },
    { arbitrary: fc.constantFrom('{"__proto__":{"admin":true},"type":"answer"}', '{"type":"answer","input":{"question":"x"},"type":"other"}', '\uFEFF{}', '{', 'null', '"answer"'), weight: 1 },
  );
}

const contentType = fc.oneof(
  { arbitrary: fc.constant('application/json'), weight: 6 },
  { arbitrary: fc.constantFrom('text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=utf-16', 'application/json; charset=latin1', 'application/merge-patch+json', 'multipart/form-data; boundary=x', 'application/xml'), weight: 2 },
);

/** Arbitrary requests for every operation in the document, sent with `apiKey` most of the time. */
export function requestsFrom(doc: OpenApiDoc, apiKey: string): fc.Arbitrary<FuzzRequest> {
  const ops: Array<fc.Arbitrary<FuzzRequest>> = [];
  for (const [template, methods] of Object.entries(doc.paths)) {
    for (const [method, raw] of Object.entries(methods)) {
      const op = raw as unknown as Operation;
      const params = op.parameters ?? [];
      const names = [...template.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]!);
      const example = op.requestBody?.content['application/json']?.example;
      ops.push(
        fc
          .record({
            segments: fc.tuple(...names.map(() => segment)),
            query: query(params),
            auth: fc.oneof({ arbitrary: fc.constant(`Bearer ${apiKey}`), weight: 8 }, { arbitrary: fc.constantFrom('', 'Bearer', `Basic ${apiKey}`, `Bearer ${apiKey}x`, 'Bearer keel_aaaaaaaaaaaa_' + 'A'.repeat(32)), weight: 1 }),
            body: op.requestBody ? fc.option(body(example ?? {}), { freq: 10 }) : fc.constant(null),
            // Header values stay visible ASCII: anything else is refused by fetch before it is sent.
            extraHeaders: fc.tuple(...params.filter((p) => p.in === 'header').map((p) => fc.option(fc.oneof(fc.stringMatching(/^[\x20-\x7e]{0,300}$/), fc.constantFrom('', ' ', 'k'.repeat(256))).map((v) => [p.name, v] as const), { freq: 2 }))),
            contentType,
            // Content-Encoding on a body that is not encoded that way (or at all).
            contentEncoding: fc.option(fc.constantFrom('gzip', 'deflate', 'br', 'identity', 'gzip, gzip', 'x-unknown', 'GZIP', ''), { freq: 6 }),
          })
          .map(({ segments, query: q, auth, body: b, contentType: ct, extraHeaders, contentEncoding }) => {
            let i = 0;
            const path = template.replace(/\{[^}]+\}/g, () => segments[i++]!) + q;
            const headers: Record<string, string> = Object.fromEntries(extraHeaders.filter((h) => h !== null));
            if (auth) headers.authorization = auth;
            if (b !== null) headers['content-type'] = ct;
            if (b !== null && contentEncoding !== null) headers['content-encoding'] = contentEncoding;
            return { method: method.toUpperCase(), path, headers, ...(b !== null ? { body: b } : {}) };
          }),
      );
    }
  }
  return fc.oneof(...ops);
}

/**
 * Sends one request and checks its answer: no 5xx, problem+json for every rejection, and a response
 * the document allows for the operation the server routed it to. The path checked is the one sent:
 * `fetch` resolves dot segments (`/v1/runs/./retry` goes out as `/v1/runs/retry`), and Express
 * routes a trailing slash as if it were absent.
 */
export async function sendAndCheck(baseUrl: string, checker: ResponseChecker, req: FuzzRequest, result: FuzzResult = { requests: 0, byStatus: {}, accepted: {} }): Promise<number> {
  const url = new URL(baseUrl + req.path);
  const sent = url.pathname + url.search;
  const res = await fetch(url, { method: req.method, headers: req.headers, body: req.body });
  const raw = await res.text();
  result.requests++;
  result.byStatus[res.status] = (result.byStatus[res.status] ?? 0) + 1;
  // Created something: 201/202 (a 200 to a POST is an idempotent replay that wrote nothing).
  if ((res.status === 201 || res.status === 202) && req.method !== 'GET') {
    const op = checker.operationFor(req.method, sent)?.template ?? sent;
    result.accepted[`${req.method} ${op}`] = (result.accepted[`${req.method} ${op}`] ?? 0) + 1;
  }
  if (res.status >= 500) throw new Error(`${res.status} for ${req.method} ${sent}: ${raw.slice(0, 300)}`);
  const type = res.headers.get('content-type') ?? '';
  // A JSON content type must carry JSON; other bodies (metrics text) stay text, and the checker
  // below verifies their content type is the one documented for the operation.
  let parsed: unknown = raw || undefined;
  if (/^application\/(?:[\w.+-]*\+)?json\b/.test(type)) {
    try {
      parsed = raw ? JSON.parse(raw) : undefined;
    } catch {
      throw new Error(`${res.status} for ${req.method} ${sent} is not JSON: ${raw.slice(0, 200)}`);
    }
  }
  if (res.status >= 400) {
    if (!type.startsWith('application/problem+json')) throw new Error(`${res.status} for ${req.method} ${sent} is ${type}, not problem+json`);
    const problem = parsed as { type?: unknown; status?: unknown; detail?: unknown };
    if (typeof problem.type !== 'string' || !problem.type.startsWith('https://keel.dev/problems/') || problem.status !== res.status || typeof problem.detail !== 'string') {
      throw new Error(`${res.status} for ${req.method} ${sent}: not a problem body: ${raw.slice(0, 200)}`);
    }
  }
  const mismatches = checker.check(req.method, sent, res.status, type, parsed);
  if (mismatches.length) throw new Error(mismatches.join('; '));
  return res.status;
}

/** Sends `runs` fuzzed requests to `baseUrl`; throws (with fast-check's seed and shrunk case) on the first bad answer. */
export async function fuzzApi(opts: { baseUrl: string; apiKey: string; runs: number; seed?: number }): Promise<FuzzResult> {
  const doc = (await (await fetch(`${opts.baseUrl}/openapi.json`)).json()) as OpenApiDoc;
  const checker = new ResponseChecker(doc);
  const result: FuzzResult = { requests: 0, byStatus: {}, accepted: {} };
  await fc.assert(
    fc.asyncProperty(requestsFrom(doc, opts.apiKey), async (req) => {
      await sendAndCheck(opts.baseUrl, checker, req, result);
    }),
    { numRuns: opts.runs, ...(opts.seed !== undefined ? { seed: opts.seed } : {}) },
  );
  return result;
}
