import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { resolve } from 'node:path';
import OpenAI from 'openai';
import { zodResponseFormat } from 'openai/helpers/zod';
import { z } from 'zod';
import { FaultSpecError, parseFaultSpec } from '../src/model-server/faults';
import { instanceForSchema, type JsonSchema } from '../src/model-server/json-schema';
import { startModelServer, type CountersSnapshot, type ModelServer } from '../src/model-server/server';

const REFUND_DOC = 'Customers may return items within 30 days. Refunds are issued to the original payment method within 5 business days.';
const SHIPPING_DOC = 'Standard shipping takes 3 to 7 days. Express shipping arrives the next business day.';
const WARRANTY_DOC = 'Electronics carry a two year warranty. The warranty covers manufacturing defects only.';

function keelPrompt(question: string, docs: Record<string, string>): OpenAI.Chat.ChatCompletionMessageParam[] {
  const context = Object.entries(docs)
    .map(([id, text]) => `<document id="${id}">${text}</document>`)
    .join('\n');
  return [
    { role: 'system', content: 'Answer using only the documents. Cite each sentence like [doc-id].' },
    { role: 'user', content: `${context}\n<question>${question}</question>` },
  ];
}

/** Polls until `check` holds, so tests wait on the server's state rather than on a fixed sleep. */
async function eventually<T>(read: () => T | Promise<T>, check: (value: T) => boolean, timeoutMs = 2000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (check(value)) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms; last value ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A validator for the JSON Schema subset the tests use, independent of the generator. */
function validate(schema: JsonSchema, value: unknown, root: JsonSchema = schema, path = '$'): string[] {
  if (schema === true) return [];
  if (schema === false) return [`${path}: no value allowed`];
  if (typeof schema.$ref === 'string') {
    const target = schema.$ref
      .slice(2)
      .split('/')
      .reduce<unknown>((node, key) => (node as Record<string, unknown>)[key], root);
    return validate(target as JsonSchema, value, root, path);
  }
  const errors: string[] = [];
  const fail = (why: string) => errors.push(`${path}: ${why} (got ${JSON.stringify(value)})`);
  if ('const' in schema && value !== schema.const) fail(`expected const ${JSON.stringify(schema.const)}`);
  if (Array.isArray(schema.enum) && !schema.enum.includes(value)) fail('not in enum');
  if (Array.isArray(schema.anyOf) && !schema.anyOf.some((s) => validate(s as JsonSchema, value, root, path).length === 0)) {
    fail('matches no anyOf branch');
  }
  const types = [schema.type].flat().filter((t): t is string => typeof t === 'string');
  const typeOf = value === null ? 'null' : Array.isArray(value) ? 'array' : Number.isInteger(value) ? 'integer' : typeof value;
  if (types.length > 0 && !types.some((t) => t === typeOf || (t === 'number' && typeOf === 'integer'))) {
    fail(`expected type ${types.join('|')}`);
    return errors;
  }
  if (typeof value === 'number') {
    if (typeof schema.minimum === 'number' && value < schema.minimum) fail('below minimum');
    if (typeof schema.maximum === 'number' && value > schema.maximum) fail('above maximum');
    if (typeof schema.exclusiveMinimum === 'number' && value <= schema.exclusiveMinimum) fail('not above exclusiveMinimum');
    if (typeof schema.exclusiveMaximum === 'number' && value >= schema.exclusiveMaximum) fail('not below exclusiveMaximum');
  }
  if (typeof value === 'string') {
    if (typeof schema.minLength === 'number' && [...value].length < schema.minLength) fail('shorter than minLength');
    if (typeof schema.maxLength === 'number' && [...value].length > schema.maxLength) fail('longer than maxLength');
  }
  if (Array.isArray(value)) {
    if (typeof schema.minItems === 'number' && value.length < schema.minItems) fail('fewer than minItems');
    if (typeof schema.maxItems === 'number' && value.length > schema.maxItems) fail('more than maxItems');
    if (schema.uniqueItems === true && new Set(value.map((v) => JSON.stringify(v))).size !== value.length) fail('items not unique');
    value.forEach((item, i) => errors.push(...validate((schema.items ?? true) as JsonSchema, item, root, `${path}[${i}]`)));
  }
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const properties = (schema.properties ?? {}) as Record<string, JsonSchema>;
    for (const key of (schema.required ?? []) as string[]) if (!(key in value)) fail(`missing required "${key}"`);
    for (const [key, item] of Object.entries(value)) {
      const sub = properties[key] ?? (schema.additionalProperties as JsonSchema | undefined) ?? true;
      errors.push(...validate(sub, item, root, `${path}.${key}`));
    }
  }
  return errors;
}

function cosine(a: readonly number[], b: readonly number[]): number {
  return a.reduce((sum, x, i) => sum + x * (b[i] ?? 0), 0);
}

describe('offline model server', () => {
  let server: ModelServer;
  let client: OpenAI;
  const controlUrl = (path: string) => server.url.replace(/\/v1$/, path);
  const control = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(controlUrl(path), {
      method,
      headers: { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : undefined };
  };

  before(async () => {
    server = await startModelServer({ port: 0 });
    client = new OpenAI({ baseURL: server.url, apiKey: 'x', maxRetries: 0 });
  });
  after(() => server.close());
  beforeEach(() => server.reset());

  describe('chat completions', () => {
    it('answers extractively from the relevant document and cites its chunk', async () => {
      const completion = await client.chat.completions.create({
        model: 'keel-offline-1',
        messages: keelPrompt('How long do refunds take to be issued?', {
          'doc-shipping': SHIPPING_DOC,
          'doc-refunds': REFUND_DOC,
          'doc-warranty': WARRANTY_DOC,
        }),
      });
      const content = completion.choices[0]?.message.content ?? '';
      assert.match(content, /Refunds are issued to the original payment method within 5 business days\. \[doc-refunds\]/);
      assert.doesNotMatch(content, /doc-shipping|doc-warranty/);
      assert.equal(completion.object, 'chat.completion');
      assert.equal(completion.model, 'keel-offline-1');
      assert.match(completion.id, /^chatcmpl-/);
      assert.equal(completion.choices[0]?.finish_reason, 'stop');
      const usage = completion.usage;
      assert.ok(usage && usage.prompt_tokens > 0 && usage.completion_tokens === Math.ceil(content.length / 4));
      assert.equal(usage.total_tokens, usage.prompt_tokens + usage.completion_tokens);
    });

    it('picks sentences from a different document when the question changes', async () => {
      const completion = await client.chat.completions.create({
        model: 'any-model-name',
        messages: keelPrompt('What does the warranty cover?', { 'doc-refunds': REFUND_DOC, 'doc-warranty': WARRANTY_DOC }),
      });
      assert.match(completion.choices[0]?.message.content ?? '', /The warranty covers manufacturing defects only\. \[doc-warranty\]/);
      assert.equal(completion.model, 'any-model-name');
    });

    it('is deterministic for the same request', async () => {
      const request = { model: 'keel-offline-1', messages: keelPrompt('When does express shipping arrive?', { s: SHIPPING_DOC, r: REFUND_DOC }) };
      const a = await client.chat.completions.create(request);
      const b = await client.chat.completions.create(request);
      assert.equal(a.choices[0]?.message.content, b.choices[0]?.message.content);
      assert.deepEqual(a.usage, b.usage);
    });

    it('says it is offline when there are no documents, using the last user message without a question tag', async () => {
      const completion = await client.chat.completions.create({
        model: 'keel-offline-1',
        messages: [
          { role: 'user', content: 'first turn' },
          { role: 'assistant', content: 'ok' },
          { role: 'user', content: 'What is the capital of France?' },
        ],
      });
      assert.equal(completion.choices[0]?.message.content, 'Offline model answer to: "What is the capital of France?"');
    });

    it('returns n choices that may differ by index, and identical ones at temperature 0', async () => {
      const messages = keelPrompt('How many days for shipping and refunds?', { s: SHIPPING_DOC, r: REFUND_DOC });
      const sampled = await client.chat.completions.create({ model: 'keel-offline-1', messages, n: 3 });
      assert.deepEqual(
        sampled.choices.map((c) => c.index),
        [0, 1, 2],
      );
      const contents = sampled.choices.map((c) => c.message.content ?? '');
      for (const content of contents) assert.match(content, /\[(s|r)\]/);
      assert.ok(new Set(contents).size > 1, `expected differing choices, got ${JSON.stringify(contents)}`);

      const greedy = await client.chat.completions.create({ model: 'keel-offline-1', messages, n: 3, temperature: 0 });
      assert.equal(new Set(greedy.choices.map((c) => c.message.content)).size, 1);
      assert.equal(greedy.choices[0]?.message.content, contents[0]);
    });

    it('truncates at max_tokens and reports finish_reason "length"', async () => {
      const messages = keelPrompt('How long do refunds take?', { r: REFUND_DOC });
      const full = await client.chat.completions.create({ model: 'keel-offline-1', messages });
      const cut = await client.chat.completions.create({ model: 'keel-offline-1', messages, max_tokens: 5 });
      assert.equal(cut.choices[0]?.finish_reason, 'length');
      assert.equal(cut.choices[0]?.message.content, full.choices[0]?.message.content?.slice(0, 20));
      assert.equal(cut.usage?.completion_tokens, 5);
    });

    it('scores a judge request with an integer from 1 to 10 derived from the candidate', async () => {
      const score = async (candidate: string) => {
        const completion = await client.chat.completions.create({
          model: 'keel-offline-1',
          messages: [
            { role: 'system', content: 'Reply with only a number from 1 to 10.' },
            { role: 'user', content: `<score_request/><question>q</question><candidate>${candidate}</candidate>` },
          ],
        });
        return completion.choices[0]?.message.content ?? '';
      };
      const candidates = ['Paris.', 'Berlin.', 'It is Paris [doc-1].', 'I do not know.', 'Lyon', 'Marseille', 'Nice'];
      const scores = await Promise.all(candidates.map(score));
      for (const s of scores) assert.match(s, /^(10|[1-9])$/);
      assert.ok(new Set(scores).size > 1, `scores should depend on the candidate: ${scores.join(',')}`);
      assert.equal(await score('Paris.'), scores[0]);
    });

    it('returns a JSON object for response_format json_object', async () => {
      const completion = await client.chat.completions.create({
        model: 'keel-offline-1',
        messages: keelPrompt('When are refunds issued?', { r: REFUND_DOC, s: SHIPPING_DOC }),
        response_format: { type: 'json_object' },
      });
      const parsed = JSON.parse(completion.choices[0]?.message.content ?? '') as { answer: string; citations: string[] };
      assert.match(parsed.answer, /Refunds are issued/);
      assert.deepEqual(parsed.citations, ['r']);
    });

    it('returns an instance of the json_schema, filled from the context where field names fit', async () => {
      const schema = {
        type: 'object',
        additionalProperties: false,
        required: ['answer', 'citations', 'confidence', 'category', 'shipping', 'details', 'note', 'flag', 'version'],
        properties: {
          answer: { type: 'string', minLength: 10 },
          citations: { type: 'array', items: { type: 'string' }, minItems: 1 },
          confidence: { type: 'number', minimum: 0, maximum: 1 },
          category: { type: 'string', enum: ['billing', 'shipping', 'other'] },
          shipping: { type: 'string' },
          details: {
            type: 'object',
            additionalProperties: false,
            required: ['rank', 'tags'],
            properties: {
              rank: { type: 'integer', minimum: 3, maximum: 9 },
              tags: { type: 'array', items: { $ref: '#/$defs/tag' }, minItems: 2, maxItems: 4, uniqueItems: true },
            },
          },
          note: { anyOf: [{ type: 'null' }, { type: 'string', maxLength: 12 }] },
          flag: { type: 'boolean' },
          version: { const: 'v1' },
        },
        $defs: { tag: { type: 'string', minLength: 3 } },
      };
      const completion = await client.chat.completions.create({
        model: 'keel-offline-1',
        messages: keelPrompt('When are refunds issued?', { r: REFUND_DOC, s: SHIPPING_DOC }),
        response_format: { type: 'json_schema', json_schema: { name: 'answer', schema, strict: true } },
      });
      const value = JSON.parse(completion.choices[0]?.message.content ?? '') as Record<string, unknown>;
      assert.deepEqual(validate(schema, value), []);
      assert.match(String(value.answer), /Refunds are issued .* \[r\]/);
      assert.deepEqual(value.citations, ['r']);
      assert.match(String(value.shipping), /shipping/i, 'a field named after a context topic is filled from that sentence');
    });

    it('works with the SDK parse helper and a zod response format', async () => {
      const Answer = z.object({
        answer: z.string(),
        citations: z.array(z.string()).min(1),
        confidence: z.number().min(0).max(1),
        followUp: z.string().nullable(),
      });
      const completion = await client.chat.completions.parse({
        model: 'keel-offline-1',
        messages: keelPrompt('What does the warranty cover?', { r: REFUND_DOC, w: WARRANTY_DOC }),
        response_format: zodResponseFormat(Answer, 'answer'),
      });
      const parsed = completion.choices[0]?.message.parsed;
      assert.ok(parsed);
      assert.match(parsed.answer, /manufacturing defects only\. \[w\]/);
      assert.deepEqual(parsed.citations, ['w']);
    });

    it('streams chunks that add up to the non-streamed answer, with usage on request', async () => {
      const messages = keelPrompt('How long do refunds take?', { r: REFUND_DOC });
      const whole = await client.chat.completions.create({ model: 'keel-offline-1', messages });
      const stream = await client.chat.completions.create({
        model: 'keel-offline-1',
        messages,
        stream: true,
        stream_options: { include_usage: true },
      });
      let text = '';
      let finish: string | null | undefined;
      let usage: OpenAI.CompletionUsage | null | undefined;
      let chunks = 0;
      for await (const chunk of stream) {
        chunks += 1;
        text += chunk.choices[0]?.delta.content ?? '';
        finish ??= chunk.choices[0]?.finish_reason;
        usage ??= chunk.usage;
      }
      assert.equal(text, whole.choices[0]?.message.content);
      assert.ok(chunks > 3, 'content arrives in several chunks');
      assert.equal(finish, 'stop');
      assert.deepEqual(usage, whole.usage);
    });

    it('rejects an invalid request with an OpenAI-style 400', async () => {
      await assert.rejects(
        client.chat.completions.create({ model: 'keel-offline-1', messages: [] }),
        (err: unknown) =>
          err instanceof OpenAI.BadRequestError &&
          err.type === 'invalid_request_error' &&
          err.param === 'messages' &&
          /messages/.test(err.message),
      );
      await assert.rejects(
        client.chat.completions.create({ model: 'keel-offline-1', messages: [{ role: 'user', content: 'x' }], n: 0 }),
        (err: unknown) => err instanceof OpenAI.BadRequestError && err.param === 'n',
      );
      const res = await fetch(`${server.url}/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"model": "x", "messages": [',
      });
      assert.equal(res.status, 400);
      const body = (await res.json()) as { error: { type: string; message: string } };
      assert.equal(body.error.type, 'invalid_request_error');
      assert.equal(server.counters().chat.invalid, 3);
      assert.equal(server.counters().chat.completed, 0);
    });
  });

  describe('embeddings', () => {
    const embed = async (input: string | string[], dimensions?: number) =>
      (await client.embeddings.create({ model: 'keel-offline-embed-1', input, ...(dimensions ? { dimensions } : {}) })).data.map(
        (d) => Array.from(d.embedding),
      );

    it('returns deterministic unit vectors of the default dimension', async () => {
      const [a, b] = await embed(['refund policy for returns', 'refund policy for returns']);
      const [again] = await embed('refund policy for returns');
      assert.ok(a && b && again);
      assert.equal(a.length, 256);
      assert.deepEqual(a, b);
      assert.deepEqual(a, again);
      assert.ok(Math.abs(Math.hypot(...a) - 1) < 1e-5);
    });

    it('places similar texts closer than dissimilar ones', async () => {
      const [refund, refunds, weather] = await embed([
        'How do I get a refund for my order?',
        'Refunds for orders are issued within five days.',
        'Sunny weather expected across the mountains tomorrow.',
      ]);
      assert.ok(refund && refunds && weather);
      assert.ok(cosine(refund, refunds) > cosine(refund, weather) + 0.1, `${cosine(refund, refunds)} vs ${cosine(refund, weather)}`);
    });

    it('honours dimensions and the float encoding, with usage', async () => {
      const [v] = await embed('short text', 64);
      assert.equal(v?.length, 64);
      const response = await client.embeddings.create({ model: 'm', input: ['a b', 'c d e f'], encoding_format: 'float' });
      assert.ok(Array.isArray(response.data[0]?.embedding));
      assert.deepEqual(
        response.data.map((d) => d.index),
        [0, 1],
      );
      assert.equal(response.usage.prompt_tokens, Math.ceil(3 / 4) + Math.ceil(7 / 4));
      assert.equal(server.counters().embeddings.completed, 2);
    });

    it('serves multilingual-e5-small, which tells a paraphrase from another question', async () => {
      assert.equal(server.embeddingFallbackReason, undefined, 'the offline embedding model must be installed (npm run setup)');
      const res = await client.embeddings.create({
        model: 'multilingual-e5-small',
        input: ['How do I reset my password?', 'What is the way to reset my password?', 'Which trains run to the airport on Sundays?'],
      });
      assert.equal(res.model, 'multilingual-e5-small');
      const [q, paraphrase, other] = res.data.map((d) => Array.from(d.embedding));
      assert.ok(q && paraphrase && other);
      assert.equal(q.length, 384);
      assert.ok(Math.abs(Math.hypot(...q) - 1) < 1e-4);
      assert.ok(cosine(q, paraphrase) > 0.95, `paraphrase ${cosine(q, paraphrase)}`);
      assert.ok(cosine(q, other) < 0.85, `unrelated ${cosine(q, other)}`);
      assert.ok(res.usage.prompt_tokens > 0);
    });

    it('answers hashing vectors, under their own name and flagged, when the model is not there', async () => {
      const bare = await startModelServer({ port: 0, sentenceEmbeddings: false });
      try {
        const res = await fetch(`${bare.url}/embeddings`, {
          method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'multilingual-e5-small', input: 'hello' }),
        });
        assert.equal(res.headers.get('x-keel-embeddings'), 'hashing-fallback');
        const body = (await res.json()) as { model: string; data: Array<{ embedding: number[] }> };
        assert.equal(body.model, 'keel-offline-embed-1');
        assert.equal(body.data[0]?.embedding.length, 256);
      } finally {
        await bare.close();
      }
    });
  });

  describe('models', () => {
    it('lists and retrieves the offline models', async () => {
      const ids: string[] = [];
      for await (const model of client.models.list()) ids.push(model.id);
      assert.ok(ids.includes('keel-offline-1') && ids.includes('keel-offline-embed-1'));
      assert.equal((await client.models.retrieve('keel-offline-embed-1')).id, 'keel-offline-embed-1');
      await assert.rejects(client.models.retrieve('gpt-unknown'), (err: unknown) => err instanceof OpenAI.NotFoundError);
    });
  });

  describe('faults', () => {
    const ask = (c: OpenAI = client) =>
      c.chat.completions.create({ model: 'keel-offline-1', messages: [{ role: 'user', content: 'hello' }] });

    it('429 surfaces as RateLimitError with a readable Retry-After, then the queue moves on', async () => {
      server.addFaults('chat:429x2@3');
      for (let i = 0; i < 2; i++) {
        await assert.rejects(
          ask(),
          (err: unknown) => err instanceof OpenAI.RateLimitError && err.status === 429 && err.headers.get('retry-after') === '3',
        );
      }
      await ask();
      const counters = server.counters().chat;
      assert.deepEqual([counters.requests, counters.faulted, counters.completed], [3, 2, 1]);
    });

    it('429 defaults Retry-After to one second', async () => {
      server.addFaults({ type: '429' });
      await assert.rejects(ask(), (err: unknown) => err instanceof OpenAI.RateLimitError && err.headers.get('retry-after') === '1');
    });

    it('500 and 503 surface as InternalServerError, 400 and 401 as their SDK classes, in FIFO order', async () => {
      server.addFaults('500,503@2,400,401');
      await assert.rejects(ask(), (err: unknown) => err instanceof OpenAI.InternalServerError && err.status === 500);
      await assert.rejects(
        ask(),
        (err: unknown) => err instanceof OpenAI.InternalServerError && err.status === 503 && err.headers.get('retry-after') === '2',
      );
      await assert.rejects(ask(), (err: unknown) => err instanceof OpenAI.BadRequestError);
      await assert.rejects(ask(), (err: unknown) => err instanceof OpenAI.AuthenticationError);
      await ask();
    });

    it('reset surfaces as a connection error', async () => {
      server.addFaults('reset');
      await assert.rejects(
        ask(),
        (err: unknown) => err instanceof OpenAI.APIConnectionError && !(err instanceof OpenAI.APIConnectionTimeoutError),
      );
      assert.equal(server.counters().chat.faulted, 1);
    });

    it('timeout hangs until the client gives up, then frees the request', async () => {
      server.addFaults('chat:timeout');
      const impatient = new OpenAI({ baseURL: server.url, apiKey: 'x', maxRetries: 0, timeout: 200 });
      await assert.rejects(ask(impatient), (err: unknown) => err instanceof OpenAI.APIConnectionTimeoutError);
      const counters = await eventually(
        () => server.counters().chat,
        (c) => c.inFlight === 0,
      );
      assert.deepEqual([counters.faulted, counters.completed], [1, 0]);
    });

    it('malformed answers 200 with a body the SDK cannot parse', async () => {
      server.addFaults('malformed');
      await assert.rejects(ask(), (err: unknown) => err instanceof SyntaxError);
      assert.equal(server.counters().chat.faulted, 1);
    });

    it('scopes faults to an endpoint', async () => {
      server.addFaults('embeddings:500');
      await ask();
      await assert.rejects(
        client.embeddings.create({ model: 'm', input: 'x' }),
        (err: unknown) => err instanceof OpenAI.InternalServerError,
      );
      assert.equal(server.counters().chat.faulted, 0);
      assert.equal(server.counters().embeddings.faulted, 1);
    });

    it('applies faults queued at start', async () => {
      const faulty = await startModelServer({ faults: 'chat:503x1' });
      try {
        const c = new OpenAI({ baseURL: faulty.url, apiKey: 'x', maxRetries: 0 });
        await assert.rejects(ask(c), (err: unknown) => err instanceof OpenAI.InternalServerError && err.status === 503);
        await ask(c);
      } finally {
        await faulty.close();
      }
    });

    it('refuses to start with a bad fault spec', async () => {
      await assert.rejects(startModelServer({ faults: 'chat:418' }), FaultSpecError);
    });
  });

  describe('latency', () => {
    it('delays each call by the configured latency', async () => {
      server.setLatency(250);
      const started = performance.now();
      await client.chat.completions.create({ model: 'keel-offline-1', messages: [{ role: 'user', content: 'x' }] });
      assert.ok(performance.now() - started >= 200);
    });

    it('stops waiting when the client aborts, and does not count the call as completed', async () => {
      server.setLatency(10_000);
      const controller = new AbortController();
      const call = client.chat.completions.create(
        { model: 'keel-offline-1', messages: [{ role: 'user', content: 'x' }] },
        { signal: controller.signal },
      );
      await eventually(
        () => server.counters().chat.inFlight,
        (n) => n === 1,
      );
      controller.abort();
      await assert.rejects(call, (err: unknown) => err instanceof OpenAI.APIUserAbortError);
      const counters = await eventually(
        () => server.counters().chat,
        (c) => c.inFlight === 0,
        1000,
      );
      assert.deepEqual([counters.aborted, counters.completed], [1, 0]);
    });

    it('serves hundreds of concurrent delayed calls in parallel', async () => {
      // Parallelism is proven by how many calls were in flight at once, not by wall time,
      // which depends on the machine's load.
      server.setLatency(300);
      const answers = await Promise.all(
        Array.from({ length: 300 }, (_, i) =>
          client.chat.completions.create({ model: 'keel-offline-1', messages: keelPrompt(`refunds ${i}`, { r: REFUND_DOC }) }),
        ),
      );
      assert.equal(answers.length, 300);
      const counters = server.counters().chat;
      assert.equal(counters.completed, 300);
      assert.ok(counters.peakInFlight > 100, `peak in flight ${counters.peakInFlight}`);
    });
  });

  describe('control endpoints', () => {
    it('sets latency, queues and clears faults, reads counters and resets', async () => {
      assert.deepEqual((await control('PUT', '/_control/latency', { ms: 120 })).body, { ms: 120 });
      const started = performance.now();
      await client.chat.completions.create({ model: 'keel-offline-1', messages: [{ role: 'user', content: 'x' }] });
      assert.ok(performance.now() - started >= 100);

      const queued = await control('POST', '/_control/faults', {
        faults: [{ type: 429, count: 2, endpoint: 'chat', retryAfter: 4 }, 'embeddings:reset'],
      });
      assert.equal(queued.status, 200);
      assert.deepEqual(queued.body?.faults, [
        { type: '429', count: 2, endpoint: 'chat', retryAfter: 4 },
        { type: 'reset', count: 1, endpoint: 'embeddings' },
      ]);
      await assert.rejects(
        client.chat.completions.create({ model: 'keel-offline-1', messages: [{ role: 'user', content: 'x' }] }),
        (err: unknown) => err instanceof OpenAI.RateLimitError && err.headers.get('retry-after') === '4',
      );
      assert.deepEqual((await control('GET', '/_control/faults')).body?.faults, [
        { type: '429', count: 1, endpoint: 'chat', retryAfter: 4 },
        { type: 'reset', count: 1, endpoint: 'embeddings' },
      ]);
      assert.deepEqual((await control('DELETE', '/_control/faults')).body, { faults: [] });

      const counters = (await control('GET', '/_control/counters')).body as unknown as CountersSnapshot;
      assert.deepEqual([counters.chat.requests, counters.chat.completed, counters.chat.faulted], [2, 1, 1]);

      assert.equal((await control('POST', '/_control/reset')).status, 204);
      assert.equal(server.counters().chat.requests, 0);
      assert.deepEqual((await control('GET', '/_control/latency')).body, { ms: 0 });
    });

    it('rejects invalid control bodies with 400', async () => {
      assert.equal((await control('PUT', '/_control/latency', { ms: -1 })).status, 400);
      const bad = await control('POST', '/_control/faults', { faults: [{ type: 'teapot' }] });
      assert.equal(bad.status, 400);
      assert.equal((bad.body?.error as { type: string }).type, 'invalid_request_error');
      assert.equal((await control('POST', '/_control/faults', { faults: 'chat:429x' })).status, 400);
      assert.deepEqual((await control('GET', '/_control/faults')).body?.faults, []);
    });

    it('reset restores the latency the server started with', async () => {
      const slow = await startModelServer({ latencyMs: 75 });
      try {
        slow.setLatency(0);
        slow.reset();
        const res = await fetch(slow.url.replace(/\/v1$/, '/_control/latency'));
        assert.deepEqual(await res.json(), { ms: 75 });
      } finally {
        await slow.close();
      }
    });

    it('answers unknown routes with an OpenAI-style 404', async () => {
      const res = await fetch(`${server.url}/completions/legacy`, { method: 'POST' });
      assert.equal(res.status, 404);
      const body = (await res.json()) as { error: { code: string; type: string } };
      assert.deepEqual([body.error.type, body.error.code], ['invalid_request_error', 'unknown_url']);
    });
  });
});

describe('fault spec parser', () => {
  it('parses endpoints, counts and Retry-After', () => {
    assert.deepEqual(parseFaultSpec('chat:429x3@2,500x1'), [
      { type: '429', count: 3, endpoint: 'chat', retryAfter: 2 },
      { type: '500', count: 1 },
    ]);
  });

  it('accepts every fault type, whitespace, case and fractional seconds', () => {
    assert.deepEqual(
      parseFaultSpec(' EMBEDDINGS:Timeout x2 , reset, malformed,400,401, 503@0.5 ,').map((f) => [f.endpoint, f.type, f.count, f.retryAfter]),
      [
        ['embeddings', 'timeout', 2, undefined],
        [undefined, 'reset', 1, undefined],
        [undefined, 'malformed', 1, undefined],
        [undefined, '400', 1, undefined],
        [undefined, '401', 1, undefined],
        [undefined, '503', 1, 0.5],
      ],
    );
    assert.deepEqual(parseFaultSpec(''), []);
  });

  for (const bad of ['teapot', 'chat:418', 'video:500', 'chat:429x0', '500@2', '429@-1', 'chat429', '429x']) {
    it(`rejects "${bad}" naming the item`, () => {
      assert.throws(
        () => parseFaultSpec(`500,${bad}`),
        (err: unknown) => err instanceof FaultSpecError && err.message.includes(`"${bad}"`),
      );
    });
  }
});

describe('JSON Schema instance generation', () => {
  it('produces values that zod accepts for schemas generated by z.toJSONSchema', () => {
    type Tree = { name: string; children: Tree[] };
    const Tree: z.ZodType<Tree> = z.object({ name: z.string(), children: z.array(z.lazy(() => Tree)) });
    const Shape = z.object({
      id: z.uuid(),
      email: z.email(),
      at: z.iso.datetime(),
      count: z.int().min(3).max(7),
      ratio: z.number().gt(0).lt(1),
      step: z.number().multipleOf(0.25).min(1.1).max(2),
      tags: z.array(z.string()).min(2).max(3),
      kind: z.enum(['a', 'b']),
      maybe: z.string().nullable(),
      tree: Tree,
      optional: z.string().optional(),
      literal: z.literal('x'),
      pair: z.tuple([z.string(), z.number()]),
      scores: z.record(z.string(), z.number()),
      short: z.string().min(2).max(5),
      either: z.union([z.number(), z.string()]),
    });
    const value = instanceForSchema(z.toJSONSchema(Shape));
    const parsed = Shape.safeParse(value);
    assert.ok(parsed.success, JSON.stringify(parsed.error?.issues));
  });

  it('is deterministic and respects bounds at the edges', () => {
    const schema: JsonSchema = {
      type: 'object',
      required: ['low', 'high', 'list'],
      properties: {
        low: { type: 'integer', exclusiveMinimum: 10 },
        high: { type: 'number', maximum: -5 },
        list: { type: 'array', items: { type: 'integer', minimum: 0, maximum: 2 }, minItems: 3, uniqueItems: true },
      },
    };
    const value = instanceForSchema(schema);
    assert.deepEqual(value, instanceForSchema(schema));
    assert.deepEqual(validate(schema, value), []);
  });
});

describe('model server entrypoint', () => {
  it('logs its URL, serves, and exits cleanly on SIGTERM', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', resolve(__dirname, '../src/model-server/main.ts')], {
      env: { ...process.env, KEEL_OFFLINE_MODEL_PORT: '0', KEEL_OFFLINE_MODEL_FAULTS: 'chat:500', LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      let output = '';
      child.stdout.setEncoding('utf8');
      const url = await new Promise<string>((resolveUrl, reject) => {
        child.stdout.on('data', (data: string) => {
          output += data;
          const match = /"url":"(http:[^"]+\/v1)"/.exec(output);
          if (match?.[1]) resolveUrl(match[1]);
        });
        child.once('exit', (code) => reject(new Error(`exited early with ${code}: ${output}`)));
      });
      const c = new OpenAI({ baseURL: url, apiKey: 'x', maxRetries: 0 });
      await assert.rejects(
        c.chat.completions.create({ model: 'keel-offline-1', messages: [{ role: 'user', content: 'x' }] }),
        (err: unknown) => err instanceof OpenAI.InternalServerError,
      );
      child.kill('SIGTERM');
      const [code] = (await once(child, 'exit')) as [number | null];
      assert.equal(code, 0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
