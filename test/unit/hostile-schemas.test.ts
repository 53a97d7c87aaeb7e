import assert from 'node:assert/strict';
import { splitRanges, splitSections } from '../../src/activities/extract';
import { checkSchema, DEFAULT_SCHEMA_LIMITS, MAX_REPORTED_ERRORS, validationErrors } from '../../src/extraction/schema-guard';
import { isBlankAfterSanitizing } from '../../src/guardrails/sanitize-text';
import { instanceForSchema, MAX_GENERATED_ITEMS } from '../../src/model-server/json-schema';

/** Builds a schema with `n` string properties. */
function wide(n: number): Record<string, unknown> {
  const properties: Record<string, unknown> = {};
  for (let i = 0; i < n; i++) properties[`field_${i}`] = { type: 'string', description: 'a field of a very wide schema' };
  return { type: 'object', properties };
}

describe('extraction schema guard', () => {
  it('runs `pattern` on a linear-time engine: (a+)+$ against a long near-miss answers at once', () => {
    const schema = { type: 'object', properties: { a: { type: 'string', pattern: '(a+)+$' } } };
    assert.equal(checkSchema(schema), undefined);
    // With JavaScript's backtracking RegExp this input takes longer than the universe has left.
    const errors = validationErrors(schema, { a: `${'a'.repeat(50_000)}!` });
    assert.deepEqual(errors, ['/a must match pattern "(a+)+$"']);
    assert.deepEqual(validationErrors(schema, { a: 'aaaa' }), []);
  });

  it('applies RE2 to patternProperties too, and refuses patterns RE2 cannot run, naming the path', () => {
    const pp = { type: 'object', patternProperties: { '^(x+)+$': { type: 'number' } } };
    assert.equal(checkSchema(pp), undefined);
    assert.deepEqual(validationErrors(pp, { [`${'x'.repeat(40_000)}`]: 'not a number' }).length, 1);
    const lookahead = checkSchema({ type: 'object', properties: { a: { type: 'string', pattern: '(?=a)a' } } });
    assert.equal(lookahead?.path, '/properties/a/pattern');
    assert.match(lookahead?.message ?? '', /RE2/);
    assert.equal(checkSchema({ type: 'string', pattern: '(a)\\1' })?.path, '/pattern');
  });

  it('refuses $ref/allOf cycles that never reach the data, and keeps recursion through properties', () => {
    for (const schema of [
      { allOf: [{ $ref: '#' }] },
      { $ref: '#' },
      { anyOf: [{ type: 'string' }, { $ref: '#/$defs/a' }], $defs: { a: { oneOf: [{ $ref: '#' }] } } },
      { $defs: { a: { not: { $ref: '#/$defs/a' } } }, type: 'object', properties: { x: { $ref: '#/$defs/a' } } },
    ]) {
      const verdict = checkSchema(schema);
      assert.ok(verdict, `${JSON.stringify(schema)} must be refused`);
      assert.match(verdict.message, /refers back to itself/);
    }
    const tree = { type: 'object', properties: { name: { type: 'string' }, children: { type: 'array', items: { $ref: '#' } } } };
    assert.equal(checkSchema(tree), undefined);
    assert.deepEqual(validationErrors(tree, { name: 'a', children: [{ name: 'b', children: [] }] }), []);
  });

  it('refuses remote and dynamic references and references to nothing', () => {
    assert.match(checkSchema({ $ref: 'https://example.com/s.json' })?.message ?? '', /only local/);
    assert.match(checkSchema({ $dynamicRef: '#meta' })?.message ?? '', /not supported/);
    assert.match(checkSchema({ type: 'object', properties: { a: { $ref: '#/$defs/missing' } } })?.message ?? '', /not a schema in this document/);
  });

  it('bounds size, depth, property count and lower bounds before compiling anything', () => {
    // The 930 KB, 15,000-property schema of the report.
    const huge = wide(15_000);
    assert.ok(JSON.stringify(huge).length > 900_000);
    assert.match(checkSchema(huge)?.message ?? '', /more than 1000 properties/);
    assert.match(checkSchema(wide(400), { ...DEFAULT_SCHEMA_LIMITS, maxBytes: 10_000 })?.message ?? '', /bytes/);
    let deep: Record<string, unknown> = { type: 'string' };
    for (let i = 0; i < 5_000; i++) deep = { type: 'object', properties: { a: deep } };
    assert.match(checkSchema(deep)?.message ?? '', /nests deeper than 32/);
    assert.match(checkSchema({ type: 'array', minItems: 100_000_000 })?.message ?? '', /minItems 100000000 is above/);
    assert.match(checkSchema({ type: 'string', minLength: 1e9 })?.message ?? '', /minLength/);
    // Keywords inside data (const, enum, default) are data, not schema.
    assert.equal(checkSchema({ const: { minItems: 1e9, $ref: 'http://x' } }), undefined);
    assert.equal(checkSchema(wide(1_000)), undefined);
  });

  it('reports invalid schemas through the meta-schema, and caps the error list', () => {
    assert.match(checkSchema({ type: 'banana' })?.message ?? '', /not a valid JSON Schema/);
    const list = { type: 'array', items: { type: 'integer' } };
    const errors = validationErrors(list, Array.from({ length: 500 }, () => 'x'));
    assert.equal(errors.length, MAX_REPORTED_ERRORS + 1);
    assert.match(errors.at(-1)!, /and 480 more/);
  });
});

describe('offline model server: schema-driven answers are bounded', () => {
  it('does not try to build 100,000,000 items, nor loop on allOf/$ref cycles', () => {
    const many = instanceForSchema({ type: 'array', minItems: 100_000_000 }) as unknown[];
    assert.equal(many.length, MAX_GENERATED_ITEMS);
    assert.equal(instanceForSchema({ allOf: [{ $ref: '#' }] }), null);
    assert.equal(typeof instanceForSchema({ $ref: '#' }), 'string');
    const nested = { type: 'array', minItems: 1000, items: { type: 'array', minItems: 1000, items: { type: 'array', minItems: 1000 } } };
    assert.ok(JSON.stringify(instanceForSchema(nested)).length < 10_000_000);
    assert.ok((instanceForSchema({ type: 'string', minLength: 1e9 }) as string).length <= 100_000);
  });
});

describe('extraction sections by range', () => {
  it('cuts the same sections as splitSections, as ranges of the original text', () => {
    const text = Array.from({ length: 40 }, (_, i) => `Paragraph ${i} ${'word '.repeat(30 + (i % 7) * 20)}`).join('\n\n  \n');
    const ranges = splitRanges(text, 300);
    const sections = splitSections(text, 300);
    assert.equal(ranges.length, sections.length);
    assert.ok(ranges.length > 5);
    ranges.forEach(([start, end], i) => {
      assert.equal(text.slice(start, end).replace(/\n\s*\n/g, '\n\n'), sections[i]);
    });
    assert.deepEqual(splitRanges('', 300), [[0, 0]]);
  });
});

describe('questions that sanitize to nothing', () => {
  it('are recognised with the sanitizer the workflow uses', () => {
    assert.equal(isBlankAfterSanitizing('\u200B\u200C\u200D\uFEFF\u2060'), true);
    assert.equal(isBlankAfterSanitizing(' \u202E\u0007 '), true);
    assert.equal(isBlankAfterSanitizing('\u200Bhello'), false);
  });
});
