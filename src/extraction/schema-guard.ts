import { createHash } from 'node:crypto';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { RE2JS } from 're2js';

/**
 * Extraction schemas come from tenants, so they are hostile input: this module is the one place
 * that decides whether a schema may be used, and the one place that compiles and runs it.
 *
 * - Regexes (`pattern`, `patternProperties`) run on RE2 (the `re2js` port): matching is linear in
 *   the input, so `(a+)+$` cannot stall an event loop. Features RE2 refuses (backreferences,
 *   lookaround) are a 400 at registration, with the path of the pattern.
 * - Size, nesting depth, property count and `min*` lower bounds are capped before anything is
 *   compiled, so neither Ajv nor a model is asked to do unbounded work.
 * - A `$ref`/`allOf`/`anyOf`/… cycle that never descends into the instance (`{"$ref":"#"}`,
 *   `{"allOf":[{"$ref":"#"}]}`) recurses forever in any validator; it is refused up front.
 * - Compiled validators are cached by the schema's hash, so the same schema compiles once per
 *   process however many sections and repairs use it.
 */

export interface SchemaLimits {
  /** Serialized JSON size of the schema. */
  maxBytes: number;
  /** JSON nesting depth of the schema document. */
  maxDepth: number;
  /** Properties declared across all `properties`/`patternProperties`. */
  maxProperties: number;
  /** Largest `minItems`/`minLength`/`minProperties`/`minContains`: a model cannot write more. */
  maxLowerBound: number;
}

export const DEFAULT_SCHEMA_LIMITS: SchemaLimits = { maxBytes: 131_072, maxDepth: 32, maxProperties: 1_000, maxLowerBound: 10_000 };

/** Errors a validation reports at most; a huge invalid array must not make a huge error list. */
export const MAX_REPORTED_ERRORS = 20;

export class SchemaRejected extends Error {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(message);
    this.name = 'SchemaRejected';
  }
}

/** Ajv's pluggable regex engine, backed by RE2. JSON Schema `pattern` is unanchored, like `test`. */
const re2Engine = Object.assign(
  (pattern: string): { test(s: string): boolean } => {
    const re = RE2JS.compile(pattern);
    return { test: (s: string) => re.test(s) };
  },
  { code: 'keelRe2' },
);

function newAjv(): Ajv {
  return new Ajv({ allErrors: true, strict: false, code: { regExp: re2Engine, optimize: false } });
}

const IN_PLACE_LISTS = ['allOf', 'anyOf', 'oneOf'] as const;
const IN_PLACE_SINGLE = ['not', 'if', 'then', 'else'] as const;
const NAME_MAPS = new Set(['properties', 'patternProperties', '$defs', 'definitions', 'dependentSchemas']);
const DATA_KEYWORDS = new Set(['const', 'enum', 'default', 'examples', 'example']);
const LOWER_BOUNDS = ['minItems', 'minLength', 'minProperties', 'minContains'] as const;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const escapePointer = (key: string) => key.replace(/~/g, '~0').replace(/\//g, '~1');

/**
 * Walks the schema document iteratively (no recursion, so depth cannot overflow the stack),
 * checking depth, property count, lower bounds, `$ref` form and regex syntax, and collecting
 * every schema object by JSON pointer for the cycle check.
 */
function inspect(schema: JsonObject, limits: SchemaLimits): Map<string, JsonObject> {
  const nodes = new Map<string, JsonObject>();
  let properties = 0;
  const stack: Array<{ value: Json; pointer: string; depth: number; parentKey: string | undefined; data: boolean }> = [
    { value: schema, pointer: '', depth: 1, parentKey: undefined, data: false },
  ];
  while (stack.length > 0) {
    const { value, pointer, depth, parentKey, data } = stack.pop()!;
    if (depth > limits.maxDepth) throw new SchemaRejected(pointer, `nests deeper than ${limits.maxDepth} levels`);
    if (Array.isArray(value)) {
      value.forEach((v, i) => stack.push({ value: v, pointer: `${pointer}/${i}`, depth: depth + 1, parentKey: undefined, data }));
      continue;
    }
    if (!isObject(value)) continue;
    // Under `properties`, `$defs`, … the keys are names, not keywords; under `const`, `enum`, … it is data.
    const isNameMap = parentKey !== undefined && NAME_MAPS.has(parentKey);
    if (!isNameMap && !data) {
      nodes.set(pointer, value);
      checkKeywords(value, pointer, limits);
      for (const key of ['properties', 'patternProperties'] as const) {
        const map = value[key];
        if (isObject(map)) {
          properties += Object.keys(map).length;
          if (properties > limits.maxProperties) throw new SchemaRejected(`${pointer}/${key}`, `declares more than ${limits.maxProperties} properties`);
        }
      }
    }
    for (const [key, v] of Object.entries(value)) {
      const childIsData = data || (!isNameMap && DATA_KEYWORDS.has(key));
      stack.push({ value: v, pointer: `${pointer}/${escapePointer(key)}`, depth: depth + 1, parentKey: isNameMap || data ? undefined : key, data: childIsData });
    }
  }
  return nodes;
}

function checkKeywords(node: JsonObject, pointer: string, limits: SchemaLimits): void {
  for (const key of LOWER_BOUNDS) {
    const v = node[key];
    if (typeof v === 'number' && v > limits.maxLowerBound) {
      throw new SchemaRejected(`${pointer}/${key}`, `${key} ${v} is above this deployment's limit of ${limits.maxLowerBound}: no model output can be that large`);
    }
  }
  for (const key of ['$dynamicRef', '$recursiveRef'] as const) {
    if (key in node) throw new SchemaRejected(`${pointer}/${key}`, `${key} is not supported; use a local "$ref": "#/…"`);
  }
  if (pointer !== '' && '$id' in node) throw new SchemaRejected(`${pointer}/$id`, '$id is allowed only at the root');
  const ref = node.$ref;
  if (ref !== undefined && (typeof ref !== 'string' || !(ref === '#' || ref.startsWith('#/')))) {
    throw new SchemaRejected(`${pointer}/$ref`, 'only local JSON-pointer references ("#" or "#/…") are supported');
  }
  const patterns: Array<[string, unknown]> = [];
  if ('pattern' in node) patterns.push([`${pointer}/pattern`, node.pattern]);
  if (isObject(node.patternProperties)) {
    for (const p of Object.keys(node.patternProperties)) patterns.push([`${pointer}/patternProperties/${escapePointer(p)}`, p]);
  }
  for (const [at, p] of patterns) {
    if (typeof p !== 'string') continue;
    try {
      RE2JS.compile(p);
    } catch (err) {
      throw new SchemaRejected(at, `is not a regular expression the linear-time engine (RE2) accepts: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}

function decodePointer(ref: string, at: string): string {
  // '#/a~1b/c%20d' → '/a~1b/c d'; pointers in `nodes` keep the ~ escapes.
  try {
    return decodeURIComponent(ref.slice(1));
  } catch {
    throw new SchemaRejected(at, `${ref} is not a valid URI fragment`);
  }
}

/**
 * Refuses cycles made only of keywords that apply to the same instance ($ref, allOf, anyOf,
 * oneOf, not, if/then/else): a validator following them never reaches the data and never stops.
 * Cycles through `properties`, `items`, … are fine; each step consumes one level of the data.
 */
function checkInPlaceCycles(nodes: Map<string, JsonObject>): void {
  const edges = (pointer: string, node: JsonObject): string[] => {
    const out: string[] = [];
    for (const key of IN_PLACE_LISTS) {
      const list = node[key];
      if (Array.isArray(list)) list.forEach((_, i) => out.push(`${pointer}/${key}/${i}`));
    }
    for (const key of IN_PLACE_SINGLE) if (isObject(node[key])) out.push(`${pointer}/${key}`);
    if (typeof node.$ref === 'string') {
      const target = decodePointer(node.$ref, `${pointer}/$ref`);
      if (!nodes.has(target)) throw new SchemaRejected(`${pointer}/$ref`, `points at ${node.$ref}, which is not a schema in this document`);
      out.push(target);
    }
    return out;
  };
  const state = new Map<string, 'open' | 'done'>();
  for (const start of nodes.keys()) {
    if (state.has(start)) continue;
    const stack: Array<{ pointer: string; next: string[] }> = [{ pointer: start, next: edges(start, nodes.get(start)!) }];
    state.set(start, 'open');
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      const child = top.next.pop();
      if (child === undefined) {
        state.set(top.pointer, 'done');
        stack.pop();
        continue;
      }
      const s = state.get(child);
      if (s === 'open') throw new SchemaRejected(child || '(root)', 'refers back to itself without describing any part of the data ($ref/allOf/anyOf/oneOf cycle), so validation would never end');
      if (s === 'done') continue;
      const node = nodes.get(child);
      if (!node) continue;
      state.set(child, 'open');
      stack.push({ pointer: child, next: edges(child, node) });
    }
  }
}

/** An LRU of bounded size: Map iteration order is insertion order. */
class Lru<V> {
  private readonly map = new Map<string, V>();
  constructor(private readonly size: number) {}
  get(key: string): V | undefined {
    const v = this.map.get(key);
    if (v !== undefined) {
      this.map.delete(key);
      this.map.set(key, v);
    }
    return v;
  }
  set(key: string, value: V): void {
    this.map.delete(key);
    this.map.set(key, value);
    if (this.map.size > this.size) this.map.delete(this.map.keys().next().value!);
  }
}

const verdicts = new Lru<{ path: string; message: string } | null>(1024);
const validators = new Lru<ValidateFunction>(256);

const hashOf = (serialized: string, limits?: SchemaLimits) =>
  createHash('sha256').update(limits ? JSON.stringify(limits) : '').update(serialized).digest('hex');

/**
 * Whether `schema` may be used for extraction: undefined if so, else where and why not. Cheap for
 * a schema seen before (cached by hash); otherwise bounded by the limits before Ajv compiles it.
 */
export function checkSchema(schema: unknown, limits: SchemaLimits = DEFAULT_SCHEMA_LIMITS): { path: string; message: string } | undefined {
  if (!isObject(schema)) return { path: '', message: 'must be a JSON Schema object' };
  let verdict: { path: string; message: string } | null = null;
  try {
    // Depth first and without recursion: serializing a 5,000-deep document would overflow the stack.
    const nodes = inspect(schema, limits);
    const serialized = JSON.stringify(schema);
    const bytes = Buffer.byteLength(serialized);
    if (bytes > limits.maxBytes) return { path: '', message: `is ${bytes} bytes; this deployment accepts schemas up to ${limits.maxBytes} bytes` };
    const key = hashOf(serialized, limits);
    const cached = verdicts.get(key);
    if (cached !== undefined) return cached ?? undefined;
    checkInPlaceCycles(nodes);
    // The meta-schema check, not a compile: Ajv's code generation costs ~0.25 ms per property,
    // which the API's event loop should not pay; workers compile once per schema (see validatorFor).
    const ajv = newAjv();
    if (!ajv.validateSchema(schema)) {
      const first = ajv.errors?.[0];
      verdict = { path: first?.instancePath ?? '', message: `is not a valid JSON Schema: ${first?.message ?? 'invalid'}` };
    }
    verdicts.set(key, verdict);
  } catch (err) {
    if (!(err instanceof SchemaRejected)) throw err;
    verdict = { path: err.path, message: err.message };
  }
  return verdict ?? undefined;
}

/**
 * The compiled validator for a schema that passed `checkSchema`, compiled once per process. A
 * schema that passed the checks but still does not compile throws `SchemaRejected`.
 */
function validatorFor(schema: Record<string, unknown>): ValidateFunction {
  const key = hashOf(JSON.stringify(schema));
  let validate = validators.get(key);
  if (!validate) {
    try {
      validate = newAjv().compile(schema);
    } catch (err) {
      throw new SchemaRejected('', `is not a usable JSON Schema: ${err instanceof Error ? err.message : String(err)}`);
    }
    validators.set(key, validate);
  }
  return validate;
}

/** Validation errors as `path message` lines, at most MAX_REPORTED_ERRORS of them. */
export function validationErrors(schema: Record<string, unknown>, value: unknown): string[] {
  const validate = validatorFor(schema);
  if (validate(value)) return [];
  const errors = (validate.errors ?? []).map((e: ErrorObject) => `${e.instancePath || '(root)'} ${e.message ?? 'is invalid'}`);
  return errors.length > MAX_REPORTED_ERRORS ? [...errors.slice(0, MAX_REPORTED_ERRORS), `… and ${errors.length - MAX_REPORTED_ERRORS} more`] : errors;
}

export function schemaLimitsFromConfig(config: {
  KEEL_SCHEMA_MAX_BYTES: number;
  KEEL_SCHEMA_MAX_DEPTH: number;
  KEEL_SCHEMA_MAX_PROPERTIES: number;
  KEEL_SCHEMA_MAX_LOWER_BOUND: number;
}): SchemaLimits {
  return {
    maxBytes: config.KEEL_SCHEMA_MAX_BYTES,
    maxDepth: config.KEEL_SCHEMA_MAX_DEPTH,
    maxProperties: config.KEEL_SCHEMA_MAX_PROPERTIES,
    maxLowerBound: config.KEEL_SCHEMA_MAX_LOWER_BOUND,
  };
}
