import express, { type Request, type RequestHandler, type Response } from 'express';
import { z } from 'zod';
import { complete } from './completion';
import { messageText } from './prompt';
import { Counters, type CountedEndpoint, type CountersSnapshot, type RequestTally } from './counters';
import { DEFAULT_EMBEDDING_DIMENSIONS, embedText, toBase64 } from './embeddings';
import { errorBody, sendBodyError, sendError, sendInvalidRequest } from './errors';
import { FaultQueue, FaultSpecError, toFaults, type Fault, type FaultInput, type FaultEndpoint, type FaultHit } from './faults';
import { waitUnlessClosed } from './latency';
import { ChatCompletionRequest, EmbeddingRequest } from './schemas';
import { approxTokens } from './text';
import { OFFLINE_MODELS, chatCompletion, chatCompletionChunks, embeddingList } from './wire';

/** Room for prompts that carry many retrieved documents. */
const BODY_LIMIT = '32mb';

export interface ModelBehaviourOptions {
  readonly latencyMs?: number;
  /** Compact fault syntax (see faults.ts) or fault objects, queued at start. */
  readonly faults?: string | ReadonlyArray<FaultInput | string>;
}

/** The knobs tests and benchmarks turn, shared by the HTTP control endpoints and `ModelServer`. */
export class ModelBehaviour {
  readonly counters = new Counters();
  readonly faults = new FaultQueue();
  private readonly initialLatencyMs: number;
  latencyMs: number;

  constructor(options: ModelBehaviourOptions = {}) {
    this.initialLatencyMs = options.latencyMs ?? 0;
    this.latencyMs = this.initialLatencyMs;
    if (options.faults !== undefined) this.addFaults(options.faults);
  }

  /** Queues faults; throws FaultSpecError, queueing none, if any is invalid. */
  addFaults(faults: string | ReadonlyArray<FaultInput | string>): Fault[] {
    this.faults.add(toFaults(typeof faults === 'string' ? [faults] : faults));
    return this.faults.pending();
  }

  setLatency(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`latency must be a non-negative number of ms, got ${ms}`);
    this.latencyMs = ms;
  }

  /** Back to a fresh server: zero counters, no faults, the latency it started with. */
  reset(): void {
    this.counters.reset();
    this.faults.clear();
    this.latencyMs = this.initialLatencyMs;
  }

  countersSnapshot(): CountersSnapshot {
    return this.counters.snapshot();
  }
}

const FaultsBody = z.object({ faults: z.union([z.string(), z.array(z.unknown())]) });
const LatencyBody = z.object({ ms: z.number().min(0) });

export function createModelApp(behaviour: ModelBehaviour = new ModelBehaviour()): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  const parseJson = express.json({ limit: BODY_LIMIT });

  /**
   * Counts the request before its body is parsed, so bad JSON shows up as `invalid`, and
   * hands the handler its tally.
   */
  const counted =
    (endpoint: CountedEndpoint, handle: (req: Request, res: Response, tally: RequestTally) => Promise<void> | void): RequestHandler =>
    (req, res, next) => {
      const tally = behaviour.counters.enter(endpoint);
      res.once('close', () => tally.exit());
      parseJson(req, res, (err?: unknown) => {
        if (err) {
          tally.invalid();
          sendBodyError(res, err);
          return;
        }
        Promise.resolve(handle(req, res, tally)).catch(next);
      });
    };

  /**
   * The part every model call shares: latency, then the next fault, if any. Resolves true
   * when the handler should go on and answer.
   */
  async function proceed(endpoint: FaultEndpoint, res: Response, tally: RequestTally, stream: boolean): Promise<boolean | ContentFault> {
    if (!(await waitUnlessClosed(behaviour.latencyMs, res))) {
      tally.aborted();
      return false;
    }
    const fault = behaviour.faults.take(endpoint);
    if (!fault) return true;
    // Not a transport failure: the call succeeds and is billed, only its content is wrong.
    if (CONTENT_FAULTS.includes(fault.type as ContentFault) && endpoint === 'chat') return fault.type as ContentFault;
    tally.faulted();
    deliverFault(fault, res, stream);
    return false;
  }

  app.post(
    '/v1/chat/completions',
    counted('chat', async (req, res, tally) => {
      const parsed = ChatCompletionRequest.safeParse(req.body);
      if (!parsed.success) {
        tally.invalid();
        sendInvalidRequest(res, parsed.error);
        return;
      }
      const request = parsed.data;
      const stream = request.stream === true;
      const go = await proceed('chat', res, tally, stream);
      if (!go) return;

      const completion = go === 'offschema' ? offSchema(request) : go === 'echo' ? echoSystemPrompt(request) : go === 'ungrounded' ? ungrounded(request) : complete(request);
      tally.completed({ prompt: completion.promptTokens, completion: completion.completionTokens });
      if (!stream) {
        res.json(chatCompletion(completion, request.model));
        return;
      }
      res.status(200).set({ 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
      const includeUsage = request.stream_options?.include_usage === true;
      const events = chatCompletionChunks(completion, request.model, includeUsage);
      res.end(`${events.map((e) => `data: ${JSON.stringify(e)}\n\n`).join('')}data: [DONE]\n\n`);
    }),
  );

  app.post(
    '/v1/embeddings',
    counted('embeddings', async (req, res, tally) => {
      const parsed = EmbeddingRequest.safeParse(req.body);
      if (!parsed.success) {
        tally.invalid();
        sendInvalidRequest(res, parsed.error);
        return;
      }
      const request = parsed.data;
      if (!(await proceed('embeddings', res, tally, false))) return;

      const inputs = embeddingInputs(request.input);
      const dimensions = request.dimensions ?? DEFAULT_EMBEDDING_DIMENSIONS;
      const vectors = inputs.map((text) => embedText(text, dimensions));
      const encoded = vectors.map((v) => (request.encoding_format === 'base64' ? toBase64(v) : Array.from(v)));
      const promptTokens = inputs.reduce((sum, text) => sum + approxTokens(text), 0);
      tally.completed({ prompt: promptTokens, completion: 0 });
      res.json(embeddingList(encoded, request.model, promptTokens));
    }),
  );

  app.get(
    '/v1/models',
    counted('models', (_req, res, tally) => {
      tally.completed();
      res.json({ object: 'list', data: OFFLINE_MODELS });
    }),
  );

  app.get(
    '/v1/models/:id',
    counted('models', (req, res, tally) => {
      const model = OFFLINE_MODELS.find((m) => m.id === req.params.id);
      if (!model) {
        sendError(
          res,
          404,
          errorBody(`The model '${String(req.params.id)}' does not exist`, 'invalid_request_error', 'model_not_found', 'model'),
        );
        return;
      }
      tally.completed();
      res.json(model);
    }),
  );

  app.use('/_control', parseJson);

  app.get('/_control/counters', (_req, res) => {
    res.json(behaviour.countersSnapshot());
  });

  app.get('/_control/faults', (_req, res) => {
    res.json({ faults: behaviour.faults.pending() });
  });

  app.post('/_control/faults', (req, res) => {
    const parsed = FaultsBody.safeParse(req.body);
    if (!parsed.success) {
      sendInvalidRequest(res, parsed.error);
      return;
    }
    try {
      behaviour.faults.add(toFaults([parsed.data.faults].flat()));
      res.json({ faults: behaviour.faults.pending() });
    } catch (err) {
      if (!(err instanceof FaultSpecError)) throw err;
      sendError(res, 400, errorBody(err.message, 'invalid_request_error', null, 'faults'));
    }
  });

  app.delete('/_control/faults', (_req, res) => {
    behaviour.faults.clear();
    res.json({ faults: [] });
  });

  app.get('/_control/latency', (_req, res) => {
    res.json({ ms: behaviour.latencyMs });
  });

  app.put('/_control/latency', (req, res) => {
    const parsed = LatencyBody.safeParse(req.body);
    if (!parsed.success) {
      sendInvalidRequest(res, parsed.error);
      return;
    }
    behaviour.setLatency(parsed.data.ms);
    res.json({ ms: behaviour.latencyMs });
  });

  app.post('/_control/reset', (_req, res) => {
    behaviour.reset();
    res.status(204).end();
  });

  app.use((req, res) => {
    sendError(res, 404, errorBody(`Unknown request URL: ${req.method} ${req.path}.`, 'invalid_request_error', 'unknown_url'));
  });

  app.use((err: unknown, _req: Request, res: Response, _next: express.NextFunction) => {
    // Body-parser failures on the control routes land here; anything else is a bug in this server.
    if (typeof err === 'object' && err !== null && 'type' in err && typeof err.type === 'string' && err.type.startsWith('entity.')) {
      sendBodyError(res, err);
      return;
    }
    console.error('offline model server: unexpected error', err);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    sendError(res, 500, errorBody('The offline model server failed unexpectedly.', 'server_error'));
  });

  return app;
}

function offSchema(request: ChatCompletionRequest): ReturnType<typeof complete> {
  const content = JSON.stringify({ note: 'This reply ignores the requested format (injected fault).' });
  const prompt = request.messages.map((m) => (typeof m.content === 'string' ? m.content : '')).join('\n');
  return { choices: [{ content, finishReason: 'stop' }], promptTokens: approxTokens(prompt), completionTokens: approxTokens(content) };
}

function embeddingInputs(input: EmbeddingRequest['input']): string[] {
  if (typeof input === 'string') return [input];
  if (input.every((x) => typeof x === 'number')) return [input.join(' ')];
  return input.map((x) => (Array.isArray(x) ? x.join(' ') : String(x)));
}

/** Faults that answer 200 with wrong content rather than failing the request. */
const CONTENT_FAULTS = ['offschema', 'echo', 'ungrounded'] as const;
type ContentFault = (typeof CONTENT_FAULTS)[number];

/** A prompt leak: the answer repeats the system prompt, as an injected model might. */
function echoSystemPrompt(request: ChatCompletionRequest): ReturnType<typeof complete> {
  const system = request.messages.filter((m) => m.role === 'system').map(messageText).join('\n');
  return { choices: [{ content: `My instructions say: ${system}`, finishReason: 'stop' }], promptTokens: 1, completionTokens: approxTokens(system) };
}

/** A hallucination: a fluent answer that no document states. */
function ungrounded(request: ChatCompletionRequest): ReturnType<typeof complete> {
  const content = 'Refunds are paid in gold bullion within 97 minutes by the Martian treasury. Every customer also receives a complimentary zeppelin voucher.';
  return { choices: [{ content, finishReason: 'stop' }], promptTokens: approxTokens(request.messages.map(messageText).join('\n')), completionTokens: approxTokens(content) };
}

const FAULT_STATUS: Record<Exclude<FaultHit['type'], 'reset' | 'timeout' | 'malformed' | ContentFault>, { status: number; body: () => ReturnType<typeof errorBody> }> = {
  '400': { status: 400, body: () => errorBody('Injected fault: bad request.', 'invalid_request_error', 'injected_fault') },
  '401': { status: 401, body: () => errorBody('Injected fault: incorrect API key provided.', 'invalid_request_error', 'invalid_api_key') },
  '429': { status: 429, body: () => errorBody('Injected fault: rate limit reached, please retry after the indicated delay.', 'requests', 'rate_limit_exceeded') },
  '500': { status: 500, body: () => errorBody('Injected fault: the server had an error while processing your request.', 'server_error') },
  '503': { status: 503, body: () => errorBody('Injected fault: the engine is currently overloaded, please try again later.', 'server_error', 'service_unavailable') },
};

function deliverFault(fault: FaultHit, res: Response, stream: boolean): void {
  res.set('x-keel-fault', fault.type);
  switch (fault.type) {
    case 'timeout':
      // Never answer: the request hangs until the client gives up or the server closes.
      return;
    case 'reset':
      res.socket?.destroy();
      return;
    case 'offschema':
    case 'echo':
    case 'ungrounded':
      // Only chat answers with wrong content; on embeddings these behave as a 500.
      sendError(res, 500, FAULT_STATUS['500'].body());
      return;
    case 'malformed':
      // Truncated JSON: what a proxy cutting a response short delivers.
      if (stream) res.status(200).type('text/event-stream').end('data: {"id":"malformed","choices":[{"delta":\n\n');
      else res.status(200).type('application/json').end('{"id":"malformed","object":');
      return;
    default: {
      const { status, body } = FAULT_STATUS[fault.type];
      if (fault.retryAfter !== undefined) {
        res.set({ 'retry-after': String(fault.retryAfter), 'retry-after-ms': String(Math.round(fault.retryAfter * 1000)) });
      }
      sendError(res, status, body());
    }
  }
}
