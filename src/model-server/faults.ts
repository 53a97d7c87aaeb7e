import { z } from 'zod';

/**
 * Injected failures for the offline model server, so retries, timeouts and cancellation can
 * be exercised against the real SDK. Faults wait in a FIFO queue; each request takes the
 * first fault scoped to its endpoint (or unscoped), and a fault with a count of N hits the
 * next N matching requests. Listing models and the control endpoints never fault.
 *
 * Compact syntax (KEEL_OFFLINE_MODEL_FAULTS, `addFaults('…')`): comma-separated items of
 *
 *     [endpoint:]type[xCOUNT][@SECONDS]
 *
 *   endpoint  chat | embeddings          (omitted: either)
 *   type      429 | 500 | 503 | 400 | 401 | reset | timeout | malformed | offschema
 *             (offschema: a normal, billed 200 whose content is JSON that ignores the requested
 *             schema, as a model that does not follow instructions answers; chat only)
 *             (echo: a billed 200 that repeats the system prompt, a prompt leak; ungrounded: a
 *             billed 200 stating things no document says; chat only)
 *   xCOUNT    how many requests it hits  (default 1)
 *   @SECONDS  Retry-After for 429/503    (429 defaults to 1)
 *
 * e.g. `chat:429x3@2,500` — the next three chat calls are rate limited with Retry-After: 2,
 * then the next chat or embeddings call gets a 500.
 */

export const FAULT_TYPES = ['429', '500', '503', '400', '401', 'reset', 'timeout', 'malformed', 'offschema', 'echo', 'ungrounded'] as const;
export type FaultType = (typeof FAULT_TYPES)[number];

export const FAULT_ENDPOINTS = ['chat', 'embeddings'] as const;
export type FaultEndpoint = (typeof FAULT_ENDPOINTS)[number];

export const DEFAULT_RETRY_AFTER_SECONDS = 1;
const RETRY_AFTER_TYPES: readonly FaultType[] = ['429', '503'];

export const FaultInput = z
  .object({
    // JSON callers naturally write status codes as numbers.
    type: z.preprocess((v) => (typeof v === 'number' ? String(v) : v), z.enum(FAULT_TYPES)),
    count: z.number().int().positive().default(1),
    endpoint: z.enum(FAULT_ENDPOINTS).optional(),
    retryAfter: z.number().min(0).optional(),
  })
  .refine((f) => f.retryAfter === undefined || RETRY_AFTER_TYPES.includes(f.type), {
    message: 'retryAfter only applies to 429 and 503 faults',
    path: ['retryAfter'],
  });
export type FaultInput = z.input<typeof FaultInput>;
export type Fault = z.output<typeof FaultInput>;

export class FaultSpecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FaultSpecError';
  }
}

const ITEM = /^(?:([a-z]+)\s*:\s*)?([a-z0-9]+?)(?:\s*x\s*(\d+))?(?:\s*@\s*(\d+(?:\.\d+)?))?$/i;

export function parseFaultSpec(spec: string): Fault[] {
  return spec
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean)
    .map((item) => {
      const match = ITEM.exec(item);
      if (!match) {
        throw new FaultSpecError(`Invalid fault "${item}": expected [endpoint:]type[xCOUNT][@SECONDS], e.g. chat:429x3@2`);
      }
      const [, endpoint, type, count, retryAfter] = match;
      return toFault(
        {
          type: type?.toLowerCase(),
          ...(endpoint === undefined ? {} : { endpoint: endpoint.toLowerCase() }),
          ...(count === undefined ? {} : { count: Number(count) }),
          ...(retryAfter === undefined ? {} : { retryAfter: Number(retryAfter) }),
        },
        `"${item}"`,
      );
    });
}

/** Validates faults given as objects or as compact strings; unknown input is checked, not trusted. */
export function toFaults(inputs: ReadonlyArray<unknown>): Fault[] {
  return inputs.flatMap((input) => (typeof input === 'string' ? parseFaultSpec(input) : [toFault(input, 'fault')]));
}

function toFault(input: unknown, label: string): Fault {
  const parsed = FaultInput.safeParse(input);
  if (!parsed.success) {
    const reasons = parsed.error.issues.map((i) => `${i.path.join('.') || 'fault'}: ${i.message}`).join('; ');
    throw new FaultSpecError(`Invalid fault ${label}: ${reasons}`);
  }
  return parsed.data;
}

/** One fault as it hits a request, with the defaults filled in. */
export interface FaultHit {
  readonly type: FaultType;
  readonly retryAfter: number | undefined;
}

export class FaultQueue {
  private readonly queue: { fault: Fault; remaining: number }[] = [];

  add(faults: readonly Fault[]): void {
    for (const fault of faults) this.queue.push({ fault, remaining: fault.count });
  }

  /** Consumes one use of the first fault that applies to `endpoint`, if any. */
  take(endpoint: FaultEndpoint): FaultHit | undefined {
    const index = this.queue.findIndex((q) => q.fault.endpoint === undefined || q.fault.endpoint === endpoint);
    const entry = this.queue[index];
    if (!entry) return undefined;
    entry.remaining -= 1;
    if (entry.remaining === 0) this.queue.splice(index, 1);
    const { type, retryAfter } = entry.fault;
    return { type, retryAfter: retryAfter ?? (type === '429' ? DEFAULT_RETRY_AFTER_SECONDS : undefined) };
  }

  clear(): void {
    this.queue.length = 0;
  }

  /** What is still pending, with counts reduced by the hits so far. */
  pending(): Fault[] {
    return this.queue.map(({ fault, remaining }) => ({ ...fault, count: remaining }));
  }
}
