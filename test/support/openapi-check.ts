/**
 * Validates HTTP responses against the API's own OpenAPI document: every response of a
 * documented operation must have a documented status, content type and a body that fits the
 * schema. `http()` calls this on every request the integration tests make.
 */
import Ajv2020, { type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';

interface MediaType {
  schema?: Record<string, unknown>;
}
interface OperationDoc {
  responses: Record<string, { content?: Record<string, MediaType> }>;
}
export interface OpenApiDoc {
  paths: Record<string, Record<string, OperationDoc>>;
  components?: Record<string, unknown>;
}

export class ResponseChecker {
  private readonly ajv = new Ajv2020({ strict: false, allErrors: true });
  private readonly compiled = new Map<string, ValidateFunction>();
  private readonly templates: Array<{ template: string; pattern: RegExp }>;

  constructor(readonly doc: OpenApiDoc) {
    addFormats(this.ajv);
    this.templates = Object.keys(doc.paths).map((template) => ({
      template,
      // Express routes `/v1/runs/` as `/v1/runs` (non-strict routing).
      pattern: new RegExp(`^${template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}]+\}/g, '[^/]+')}/?$`),
    }));
  }

  /** The documented operation for a concrete request, if any. */
  operationFor(method: string, url: string): { template: string; op: OperationDoc } | undefined {
    const path = url.split('?')[0] ?? url;
    const m = method.toLowerCase();
    // Literal templates before parameterised ones, as Express would match them.
    const hits = this.templates.filter((t) => t.pattern.test(path) && this.doc.paths[t.template]?.[m]);
    hits.sort((a, b) => a.template.split('{').length - b.template.split('{').length);
    const hit = hits[0];
    return hit ? { template: hit.template, op: this.doc.paths[hit.template]![m]! } : undefined;
  }

  /** Problems with a response, as messages; empty when it matches the document. */
  check(method: string, url: string, status: number, contentType: string | null, body: unknown): string[] {
    const found = this.operationFor(method, url);
    if (!found) return [];
    const where = `${method.toUpperCase()} ${found.template} → ${status}`;
    const response = found.op.responses[String(status)];
    if (!response) return [`${where}: status not documented`];
    if (!response.content) return body === undefined ? [] : [`${where}: documented without a body, got one`];
    const type = (contentType ?? '').split(';')[0]!.trim();
    const media = response.content[type];
    if (!media) return [`${where}: content type ${type || '(none)'} not documented (${Object.keys(response.content).join(', ')})`];
    if (!media.schema) return [];
    const key = `${found.template} ${method} ${status} ${type}`;
    let validate = this.compiled.get(key);
    if (!validate) {
      // The schema's `#/components/...` references resolve against this wrapper.
      validate = this.ajv.compile({ ...media.schema, components: this.doc.components });
      this.compiled.set(key, validate);
    }
    if (validate(body)) return [];
    return [`${where}: body does not match the schema: ${this.ajv.errorsText(validate.errors)}`];
  }
}

const checkers = new Map<string, Promise<ResponseChecker>>();

/** One checker per API base URL, from the document that API serves. */
export function checkerFor(baseUrl: string): Promise<ResponseChecker> {
  let checker = checkers.get(baseUrl);
  if (!checker) {
    checker = fetch(`${baseUrl}/openapi.json`).then(async (res) => new ResponseChecker((await res.json()) as OpenApiDoc));
    checkers.set(baseUrl, checker);
  }
  return checker;
}
