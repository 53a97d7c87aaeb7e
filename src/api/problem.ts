import type { ErrorRequestHandler, Response } from 'express';
import type { Logger } from 'pino';
import { isDatabaseBusy } from '../db/errors';

/**
 * RFC 9457 problem details. `type` is a stable identifier clients can switch on; `detail` is
 * for humans; nothing else about the failure (stack, SQL, secrets) leaves the process.
 */
export const PROBLEM_BASE = 'https://keel.dev/problems/';

export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance?: string;
  errors?: Array<{ path: string; message: string }>;
  [extension: string]: unknown;
}

export class HttpProblem extends Error {
  constructor(
    readonly status: number,
    readonly slug: string,
    readonly title: string,
    detail: string,
    readonly extensions: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(detail);
    this.name = 'HttpProblem';
  }

  toBody(instance?: string): ProblemBody {
    return {
      type: PROBLEM_BASE + this.slug,
      title: this.title,
      status: this.status,
      detail: this.message,
      ...(instance ? { instance } : {}),
      ...this.extensions,
    };
  }
}

export const problems = {
  validation: (errors: Array<{ path: string; message: string }>, where = 'request') =>
    new HttpProblem(400, 'validation-error', 'Invalid request', `The ${where} is not valid: ${errors.map((e) => `${e.path || '(root)'}: ${e.message}`).join('; ')}`, { errors }),
  malformedJson: (detail: string) => new HttpProblem(400, 'malformed-json', 'Malformed JSON', detail),
  /**
   * The request has the shape the document describes, but its content cannot be used, for a reason
   * JSON Schema cannot state (a JSON Schema Ajv cannot compile, a name nothing is registered under,
   * a number over this deployment's limit). Each operation that answers it says so in its responses.
   */
  unprocessable: (errors: Array<{ path: string; message: string }>, where = 'request') =>
    new HttpProblem(422, 'unprocessable-content', 'Unprocessable content', `The ${where} cannot be processed: ${errors.map((e) => `${e.path || '(root)'}: ${e.message}`).join('; ')}`, { errors }),
  methodNotAllowed: (method: string, path: string, allowed: string[]) =>
    new HttpProblem(405, 'method-not-allowed', 'Method not allowed', `${method} is not served on ${path}; use ${allowed.join(', ')}.`, { allowed }, { Allow: allowed.join(', ') }),
  unsupportedMediaType: () =>
    new HttpProblem(415, 'unsupported-media-type', 'Unsupported media type', 'Send the body as application/json.'),
  tooLarge: (limit: number) =>
    new HttpProblem(413, 'payload-too-large', 'Payload too large', `The body exceeds the limit of ${limit} bytes.`, { limit }),
  unauthorized: (detail = 'Send a valid API key as `Authorization: Bearer <key>`.') =>
    new HttpProblem(401, 'unauthorized', 'Unauthorized', detail, {}, { 'WWW-Authenticate': 'Bearer realm="keel"' }),
  insufficientScope: (scope: string) =>
    new HttpProblem(403, 'insufficient-scope', 'Insufficient scope', `This API key lacks the \`${scope}\` scope.`, { requiredScope: scope }),
  scopeNotHeld: (scopes: string[]) =>
    new HttpProblem(403, 'scope-not-held', 'Scope not held', `A key can grant only scopes it holds; this one lacks ${scopes.map((s) => `\`${s}\``).join(', ')}.`, { scopes }),
  rateLimited: (retryAfterSeconds: number) =>
    new HttpProblem(429, 'rate-limited', 'Too many requests', `The tenant's request rate limit is reached; retry in ${retryAfterSeconds} s.`, { retryAfter: retryAfterSeconds }, { 'Retry-After': String(retryAfterSeconds) }),
  concurrencyLimit: (limit: number) =>
    new HttpProblem(429, 'concurrency-limit', 'Too many runs in flight', `The tenant already has ${limit} runs queued or running; start more when some finish.`, { limit }, { 'Retry-After': '5' }),
  timeout: (ms: number) =>
    new HttpProblem(503, 'request-timeout', 'Request timed out', `The request did not complete within ${ms} ms.`, { timeoutMs: ms }, { 'Retry-After': '5' }),
  notFound: (what: string) => new HttpProblem(404, 'not-found', 'Not found', `${what} was not found.`),
  routeNotFound: (method: string, path: string) =>
    new HttpProblem(404, 'route-not-found', 'Not found', `No route for ${method} ${path}.`),
  unavailable: (detail: string) =>
    new HttpProblem(503, 'service-unavailable', 'Service unavailable', detail, {}, { 'Retry-After': '5' }),
  internal: () => new HttpProblem(500, 'internal-error', 'Internal error', 'Something went wrong on our side; it has been logged.'),
};

export function sendProblem(res: Response, problem: HttpProblem, instance?: string): void {
  res.status(problem.status).set(problem.headers).type('application/problem+json').json(problem.toBody(instance));
}

interface BodyParserError {
  type?: string;
  status?: number;
  code?: unknown;
  limit?: number;
  message?: string;
}

function fromBodyParser(err: BodyParserError): HttpProblem | undefined {
  switch (err.type) {
    case 'entity.too.large':
      return problems.tooLarge(err.limit ?? 0);
    case 'entity.parse.failed':
      return problems.malformedJson(`The body is not valid JSON: ${err.message ?? 'parse error'}`);
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return new HttpProblem(415, 'unsupported-media-type', 'Unsupported media type', err.message ?? 'Unsupported encoding');
    case 'request.aborted':
      return new HttpProblem(400, 'request-aborted', 'Request aborted', 'The client closed the request before the body arrived.');
    default:
      // zlib could not inflate a body sent with `Content-Encoding: gzip`/`deflate`/`br` (e.g. one that
      // was not compressed): zlib's codes are `Z_*`, brotli's `ERR_*` (e.g. ERR__ERROR_FORMAT_PADDING_1).
      if (err.status === 400 && typeof err.code === 'string' && (err.code.startsWith('Z_') || err.code.startsWith('ERR_'))) {
        return new HttpProblem(400, 'malformed-body', 'Malformed body', 'The body does not match its Content-Encoding.');
      }
      return undefined;
  }
}

const GRPC_DEADLINE_EXCEEDED = 4;
const PG_QUERY_CANCELED = '57014';

/** A Temporal call past its `withDeadline`, or a Postgres statement past `statement_timeout`. */
export function isDeadlineExceeded(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && typeof e === 'object' && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (code === GRPC_DEADLINE_EXCEEDED || code === PG_QUERY_CANCELED) return true;
    const meta = (e as { meta?: { driverAdapterError?: { cause?: { originalCode?: unknown } } } }).meta;
    if (meta?.driverAdapterError?.cause?.originalCode === PG_QUERY_CANCELED) return true;
  }
  return false;
}

export function problemHandler(log: Logger, timeoutMs = 30_000): ErrorRequestHandler {
  return (err: unknown, req, res, _next) => {
    let problem: HttpProblem;
    if (err instanceof HttpProblem) problem = err;
    // The router could not percent-decode a path parameter: the client's mistake, not ours.
    else if (err instanceof URIError) problem = new HttpProblem(400, 'malformed-uri', 'Malformed URI', 'The path contains an invalid percent-encoding.');
    else if (isDeadlineExceeded(err)) {
      log.warn({ err, reqId: req.id, method: req.method, path: req.path }, 'request ran out of time');
      problem = problems.timeout(timeoutMs);
    }
    else if (isDatabaseBusy(err)) {
      log.warn({ err, reqId: req.id, method: req.method, path: req.path }, 'database busy');
      problem = problems.unavailable('The database is busy; try again shortly.');
    }
    else {
      const parsed = typeof err === 'object' && err !== null ? fromBodyParser(err) : undefined;
      if (parsed) problem = parsed;
      else {
        log.error({ err, reqId: req.id, method: req.method, path: req.path }, 'unhandled error');
        problem = problems.internal();
      }
    }
    if (res.headersSent) return;
    sendProblem(res, problem, req.originalUrl);
  };
}
