/**
 * Per-endpoint request accounting. Tests read it to prove a model step ran exactly once or
 * that a cancelled call never completed; benchmarks read `peakInFlight` to see the load the
 * server actually saw.
 */
export interface EndpointCounters {
  /** Every request received, whatever happened to it. */
  requests: number;
  /** Answered 200 with a real response. */
  completed: number;
  /** Hit by an injected fault. */
  faulted: number;
  /** Rejected with 400 because the body didn't validate. */
  invalid: number;
  /** The client went away before the answer was sent. */
  aborted: number;
  inFlight: number;
  peakInFlight: number;
  /** Token totals over completed requests (embeddings only have prompt tokens). */
  promptTokens: number;
  completionTokens: number;
}

export const COUNTED_ENDPOINTS = ['chat', 'embeddings', 'models'] as const;
export type CountedEndpoint = (typeof COUNTED_ENDPOINTS)[number];

export type CountersSnapshot = Record<CountedEndpoint, EndpointCounters>;

function zero(): EndpointCounters {
  return {
    requests: 0,
    completed: 0,
    faulted: 0,
    invalid: 0,
    aborted: 0,
    inFlight: 0,
    peakInFlight: 0,
    promptTokens: 0,
    completionTokens: 0,
  };
}

/**
 * One request's entry in the counters. It keeps hold of the counters that were current when
 * the request arrived, so a request straddling a reset can't leak into the next test's numbers.
 */
export interface RequestTally {
  completed(tokens?: { prompt: number; completion: number }): void;
  faulted(): void;
  invalid(): void;
  aborted(): void;
  /** Call once when the response has closed, whatever the outcome. */
  exit(): void;
}

export class Counters {
  private state: CountersSnapshot = { chat: zero(), embeddings: zero(), models: zero() };

  enter(endpoint: CountedEndpoint): RequestTally {
    const c = this.state[endpoint];
    c.requests += 1;
    c.inFlight += 1;
    c.peakInFlight = Math.max(c.peakInFlight, c.inFlight);
    let exited = false;
    return {
      completed(tokens) {
        c.completed += 1;
        c.promptTokens += tokens?.prompt ?? 0;
        c.completionTokens += tokens?.completion ?? 0;
      },
      faulted: () => void (c.faulted += 1),
      invalid: () => void (c.invalid += 1),
      aborted: () => void (c.aborted += 1),
      exit() {
        if (exited) return;
        exited = true;
        c.inFlight -= 1;
      },
    };
  }

  snapshot(): CountersSnapshot {
    return structuredClone(this.state);
  }

  reset(): void {
    this.state = { chat: zero(), embeddings: zero(), models: zero() };
  }
}
