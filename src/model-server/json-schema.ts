/**
 * Builds one JSON value that validates against a JSON Schema, deterministically. It covers
 * what OpenAI structured outputs and `z.toJSONSchema` produce: objects, arrays and tuples,
 * strings with length and common formats, bounded numbers and integers, booleans, null,
 * enum/const, anyOf/oneOf/allOf, type lists, `nullable`, and local `$ref`s into
 * `$defs`/`definitions`, including recursive ones. `pattern` is not solved for; a string
 * field with a pattern only validates if the chosen text happens to match it.
 */

export type JsonSchema = { readonly [keyword: string]: unknown } | boolean;

/**
 * Where content comes from. The generator owns structure and constraints; the source
 * supplies words for a field given its property name (undefined at the root or when a value
 * has no name), and returns undefined to fall back to neutral text.
 */
export interface FieldValues {
  text(name: string | undefined): string | undefined;
  list(name: string | undefined): readonly string[] | undefined;
  number(name: string | undefined): number | undefined;
}

const NO_VALUES: FieldValues = { text: () => undefined, list: () => undefined, number: () => undefined };

/** Past this depth recursive schemas stop growing: optional fields and array items are left out. */
const MAX_DEPTH = 6;
/**
 * What one answer may hold, whatever the schema demands: `minItems: 100000000` or a 1 GB
 * `minLength` would otherwise exhaust the server's memory. A schema beyond these gets an answer
 * that does not validate, as from a real model that ran out of output tokens.
 */
export const MAX_GENERATED_ITEMS = 1_000;
export const MAX_GENERATED_STRING = 100_000;
export const MAX_GENERATED_VALUES = 100_000;
/** allOf/anyOf/$ref hops without descending into the value: `{"allOf":[{"$ref":"#"}]}` never ends. */
const MAX_IN_PLACE_HOPS = 64;

interface Context {
  readonly root: JsonSchema;
  readonly values: FieldValues;
  readonly depth: number;
  readonly name: string | undefined;
  /** Position inside the enclosing array; varies otherwise identical items. */
  readonly index: number;
  /** allOf/anyOf/oneOf steps taken at this value. */
  readonly hops?: number;
  /** Values left to generate in this answer, shared by the whole tree: nested `minItems` multiply. */
  readonly budget: { left: number };
}

type SchemaObject = { readonly [keyword: string]: unknown };

export function instanceForSchema(schema: JsonSchema, values: FieldValues = NO_VALUES): unknown {
  return generate(schema, { root: schema, values, depth: 0, name: undefined, index: 0, budget: { left: MAX_GENERATED_VALUES } });
}

function generate(input: JsonSchema | undefined, ctx: Context): unknown {
  if (ctx.budget.left-- <= 0) return null;
  if (input === undefined || input === true) return stringValue({}, ctx);
  if (input === false || ctx.depth > MAX_DEPTH * 4 || (ctx.hops ?? 0) > MAX_IN_PLACE_HOPS) return null;
  const schema = resolve(input, ctx.root);

  if ('const' in schema) return schema.const;
  if (Array.isArray(schema.enum) && schema.enum.length > 0) return schema.enum[ctx.index % schema.enum.length];

  const allOf = schemaList(schema.allOf);
  if (allOf.length > 0) {
    return generate(allOf.map((s) => resolve(s, ctx.root)).reduce(mergeSchemas, without(schema, 'allOf')), inPlace(ctx));
  }

  const branches = schemaList(schema.anyOf ?? schema.oneOf);
  if (branches.length > 0) {
    const rest = without(schema, 'anyOf', 'oneOf');
    const nonNull = branches.filter((b) => !isNullSchema(resolve(b, ctx.root)));
    // Deep inside a recursive schema, a null branch is how the recursion ends.
    const preferNull = ctx.depth >= MAX_DEPTH && nonNull.length < branches.length;
    const branch = preferNull ? { type: 'null' } : (nonNull[0] ?? branches[0]);
    return generate(mergeSchemas(rest, resolve(branch ?? {}, ctx.root)), inPlace(ctx));
  }

  switch (schemaType(schema)) {
    case 'object':
      return objectValue(schema, ctx);
    case 'array':
      return arrayValue(schema, ctx);
    case 'integer':
      return numberValue(schema, ctx, true);
    case 'number':
      return numberValue(schema, ctx, false);
    case 'boolean':
      return ctx.index % 2 === 0;
    case 'null':
      return null;
    default:
      return stringValue(schema, ctx);
  }
}

function objectValue(schema: SchemaObject, ctx: Context): Record<string, unknown> {
  const properties = isObject(schema.properties) ? (schema.properties as Record<string, JsonSchema>) : {};
  const required = new Set(Array.isArray(schema.required) ? schema.required.filter(isString) : []);
  const extra = schema.additionalProperties;
  const out: Record<string, unknown> = {};
  for (const [key, sub] of Object.entries(properties)) {
    if (ctx.depth >= MAX_DEPTH && !required.has(key)) continue;
    out[key] = generate(sub, child(ctx, key));
  }
  for (const key of required) {
    if (key in out) continue;
    const sub = extra === undefined || typeof extra === 'boolean' ? true : (extra as JsonSchema);
    out[key] = generate(sub, child(ctx, key));
  }
  return out;
}

function arrayValue(schema: SchemaObject, ctx: Context): unknown[] {
  const minItems = nonNegativeInt(schema.minItems) ?? 0;
  const maxItems = nonNegativeInt(schema.maxItems) ?? Number.POSITIVE_INFINITY;
  const prefix = schemaList(schema.prefixItems);
  const items = (schema.items ?? true) as JsonSchema;

  const itemSchema = typeof items === 'boolean' ? undefined : resolve(items, ctx.root);
  const isPlainStringItem =
    itemSchema !== undefined && schemaType(itemSchema) === 'string' && !('enum' in itemSchema) && !('const' in itemSchema);
  const supplied = isPlainStringItem ? ctx.values.list(ctx.name) : undefined;

  const natural = ctx.depth >= MAX_DEPTH ? 0 : (supplied?.length ?? 1);
  const canGrow = items !== false;
  const count = Math.min(Math.max(natural, minItems, prefix.length), canGrow ? maxItems : prefix.length, MAX_GENERATED_ITEMS);

  const out: unknown[] = [];
  for (let i = 0; i < count && ctx.budget.left > 0; i++) {
    // Varying by position keeps items distinct, which also satisfies uniqueItems.
    const at: Context = { ...child(ctx, ctx.name), index: i };
    const fromList = supplied?.[i];
    if (i < prefix.length) out.push(generate(prefix[i], at));
    else if (fromList !== undefined && itemSchema) out.push(fitString(fromList, itemSchema, at));
    else out.push(generate(items, at));
  }
  return out;
}

function numberValue(schema: SchemaObject, ctx: Context, integer: boolean): number {
  // Draft 4 spells exclusive bounds as booleans next to minimum/maximum; later drafts as numbers.
  let lo = finite(schema.minimum) ?? Number.NEGATIVE_INFINITY;
  let hi = finite(schema.maximum) ?? Number.POSITIVE_INFINITY;
  let loOpen = schema.exclusiveMinimum === true;
  let hiOpen = schema.exclusiveMaximum === true;
  const exMin = finite(schema.exclusiveMinimum);
  const exMax = finite(schema.exclusiveMaximum);
  if (exMin !== undefined && exMin >= lo) [lo, loOpen] = [exMin, true];
  if (exMax !== undefined && exMax <= hi) [hi, hiOpen] = [exMax, true];

  const step = finite(schema.multipleOf) ?? (integer ? 1 : undefined);
  const fallback =
    Number.isFinite(lo) && Number.isFinite(hi) ? (lo + hi) / 2 : Number.isFinite(lo) ? lo : Number.isFinite(hi) ? Math.min(0, hi) : 0;
  const epsilon = step ?? (Number.isFinite(hi - lo) ? Math.max(1e-9, (hi - lo) / 1000) : 1);
  const min = loOpen ? lo + epsilon : lo;
  const max = hiOpen ? hi - epsilon : hi;
  // Repeated float multiplication drifts (0.1 * 3); rounding to the step's decimals keeps values exact.
  const tidy = (v: number) => (step === undefined ? v : Number(v.toFixed(decimals(step))));
  let base = Math.min(Math.max(ctx.values.number(ctx.name) ?? fallback, min), max);
  if (step !== undefined) {
    base = Math.round(base / step) * step;
    if (base < min) base += step;
    if (base > max) base -= step;
    base = tidy(base);
  }
  const spacing = step ?? (Number.isFinite(max - min) ? (max - min) / 10 : 1);
  const value = ctx.index === 0 ? base : nthAround(base, ctx.index, spacing, min, max, tidy);
  return integer ? Math.round(value) : value;
}

/**
 * The index-th value of base, base+d, base-d, base+2d, … that lies in [min, max], so items of
 * an array differ (uniqueItems) without leaving the bounds. Falls back to base when the range
 * has too few values.
 */
function nthAround(base: number, index: number, spacing: number, min: number, max: number, tidy: (v: number) => number): number {
  let seen = 0;
  for (let k = 1; k <= 4 * index + 4; k++) {
    const offset = k % 2 === 1 ? (k + 1) / 2 : -k / 2;
    const v = tidy(base + offset * spacing);
    if (v >= min && v <= max && ++seen === index) return v;
  }
  return base;
}

function stringValue(schema: SchemaObject, ctx: Context): string {
  const formatted = formatValue(schema.format, ctx);
  if (formatted !== undefined) return formatted;
  const base = ctx.values.text(ctx.name) ?? `offline ${ctx.name ?? 'value'}`;
  return fitString(ctx.index > 0 ? `${base} ${ctx.index + 1}` : base, schema, ctx);
}

function fitString(text: string, schema: SchemaObject, ctx: Context): string {
  const minLength = Math.min(nonNegativeInt(schema.minLength) ?? 0, MAX_GENERATED_STRING);
  const maxLength = nonNegativeInt(schema.maxLength) ?? Number.POSITIVE_INFINITY;
  // JSON Schema counts length in code points, not UTF-16 units.
  let chars = Array.from(text);
  if (chars.length > maxLength) {
    const cut = chars.slice(0, maxLength).join('');
    const atWord = cut.replace(/\s+\S*$/, '');
    chars = Array.from(atWord.length >= Math.max(minLength, 1) ? atWord : cut);
  }
  const pad = Array.from(` ${ctx.name ?? 'offline'}`);
  for (let i = 0; chars.length < minLength; i++) chars.push(pad[i % pad.length] ?? '.');
  return chars.join('');
}

function formatValue(format: unknown, ctx: Context): string | undefined {
  const n = ctx.index;
  switch (format) {
    case 'date-time':
      return `2024-01-${String(1 + (n % 28)).padStart(2, '0')}T00:00:00.000Z`;
    case 'date':
      return `2024-01-${String(1 + (n % 28)).padStart(2, '0')}`;
    case 'time':
      return `00:00:${String(n % 60).padStart(2, '0')}Z`;
    case 'email':
      return `offline${n || ''}@example.com`;
    case 'uri':
    case 'url':
      return `https://example.com/keel-offline/${n}`;
    case 'hostname':
      return `offline${n || ''}.example.com`;
    case 'ipv4':
      return `192.0.2.${1 + (n % 254)}`;
    case 'ipv6':
      return `2001:db8::${(n + 1).toString(16)}`;
    case 'uuid':
      // A fixed version-4 shaped id; zod's uuid pattern checks the version and variant nibbles.
      return `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
    default:
      return undefined;
  }
}

function resolve(schema: JsonSchema, root: JsonSchema): SchemaObject {
  if (typeof schema === 'boolean') return schema ? {} : { not: {} };
  let current: SchemaObject = schema;
  // Bounded so a $ref cycle with no structure in between can't loop forever.
  for (let hops = 0; hops < 32; hops++) {
    const ref = current.$ref;
    if (typeof ref !== 'string') break;
    const rest = without(current, '$ref');
    const target = pointer(root, ref);
    current = target === undefined ? rest : mergeSchemas(target, rest);
  }
  return current;
}

function pointer(root: JsonSchema, ref: string): SchemaObject | undefined {
  if (!ref.startsWith('#')) return undefined;
  let node: unknown = root;
  for (const raw of ref.slice(1).split('/').slice(1)) {
    const key = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
    node = isObject(node) ? node[key] : undefined;
  }
  return isObject(node) ? node : typeof node === 'boolean' ? resolve(node, root) : undefined;
}

function mergeSchemas(a: SchemaObject, b: SchemaObject): SchemaObject {
  const merged: Record<string, unknown> = { ...a, ...b };
  if (isObject(a.properties) || isObject(b.properties)) {
    merged.properties = { ...(a.properties as object), ...(b.properties as object) };
  }
  if (Array.isArray(a.required) || Array.isArray(b.required)) {
    merged.required = [...new Set([...((a.required as unknown[]) ?? []), ...((b.required as unknown[]) ?? [])])];
  }
  return merged;
}

function schemaType(schema: SchemaObject): string | undefined {
  const { type } = schema;
  if (typeof type === 'string') return type;
  if (Array.isArray(type)) {
    const types = type.filter(isString);
    return types.find((t) => t !== 'null') ?? types[0];
  }
  if ('properties' in schema || 'required' in schema || 'additionalProperties' in schema) return 'object';
  if ('items' in schema || 'prefixItems' in schema) return 'array';
  if ('minimum' in schema || 'maximum' in schema || 'multipleOf' in schema) return 'number';
  return undefined;
}

function isNullSchema(schema: SchemaObject): boolean {
  return schema.type === 'null' || schema.const === null;
}

function without(schema: SchemaObject, ...keys: string[]): SchemaObject {
  return Object.fromEntries(Object.entries(schema).filter(([key]) => !keys.includes(key)));
}

function child(ctx: Context, name: string | undefined): Context {
  return { ...ctx, depth: ctx.depth + 1, name, index: 0, hops: 0 };
}

function inPlace(ctx: Context): Context {
  return { ...ctx, hops: (ctx.hops ?? 0) + 1 };
}

function schemaList(value: unknown): JsonSchema[] {
  return Array.isArray(value) ? value.filter((v): v is JsonSchema => isObject(v) || typeof v === 'boolean') : [];
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isString(value: unknown): value is string {
  return typeof value === 'string';
}

function finite(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

function nonNegativeInt(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 ? value : undefined;
}

function decimals(step: number): number {
  const text = String(step);
  const exponent = /e-(\d+)$/.exec(text);
  if (exponent) return Number(exponent[1]);
  return text.split('.')[1]?.length ?? 0;
}
