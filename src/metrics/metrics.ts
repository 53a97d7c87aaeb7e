import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';
import type { PriceTable } from '../llm/pricing';
import type { StepUsage } from '../activities/ledger';

/**
 * Keel's Prometheus metrics. Labels are bounded sets (route templates, statuses, run types, step
 * names, models from the price table) and never carry tenant ids, run ids or user input: a
 * scrape reveals volumes and latencies, nothing about any tenant's data.
 */
export function createMetrics(service: 'api' | 'worker') {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  return {
    registry,
    httpRequestDuration: new Histogram({
      name: 'keel_http_request_duration_seconds',
      help: 'HTTP request latency by route template, method and status',
      labelNames: ['method', 'route', 'status'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    runsStarted: new Counter({ name: 'keel_runs_started_total', help: 'Runs accepted by the API, by type', labelNames: ['type'] as const, registers }),
    runsFinished: new Counter({
      name: 'keel_runs_finished_total',
      help: 'Runs that reached a terminal status, by type and status',
      labelNames: ['type', 'status'] as const,
      registers,
    }),
    stepDuration: new Histogram({
      name: 'keel_step_duration_seconds',
      help: 'Activity attempt latency by step and outcome',
      labelNames: ['step', 'outcome'] as const,
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    }),
    modelTokens: new Counter({
      name: 'keel_model_tokens_total',
      help: 'Tokens billed by the model endpoint, by model and direction (input/output)',
      labelNames: ['model', 'direction'] as const,
      registers,
    }),
    modelCost: new Counter({ name: 'keel_model_cost_usd_total', help: 'Estimated model cost in USD, by model', labelNames: ['model'] as const, registers }),
    cacheLookups: new Counter({
      name: 'keel_cache_lookups_total',
      help: 'Cache lookups by cache (exact/semantic) and result (hit/miss)',
      labelNames: ['cache', 'result'] as const,
      registers,
    }),
    cacheLookupDuration: new Histogram({
      name: 'keel_cache_lookup_duration_seconds',
      help: 'Cache lookup latency by cache (exact/semantic) and result (hit/miss); semantic includes the embedding call',
      labelNames: ['cache', 'result'] as const,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1],
      registers,
    }),
    cacheTokensSaved: new Counter({ name: 'keel_cache_tokens_saved_total', help: 'Model tokens (input + output) the original runs spent, saved by cache hits, by cache', labelNames: ['cache'] as const, registers }),
    cacheCostSaved: new Counter({ name: 'keel_cache_cost_saved_usd_total', help: 'Estimated model cost in USD saved by cache hits, by cache', labelNames: ['cache'] as const, registers }),
    cacheLatencySaved: new Counter({
      name: 'keel_cache_latency_saved_seconds_total',
      help: "The original runs' latency minus the hits' lookup time, summed, by cache",
      labelNames: ['cache'] as const,
      registers,
    }),
    cacheStores: new Counter({
      name: 'keel_cache_stores_total',
      help: 'Finished runs offered to the cache, by result (stored, no-store, pii)',
      labelNames: ['result'] as const,
      registers,
    }),
    cacheErrors: new Counter({
      name: 'keel_cache_errors_total',
      help: 'Cache operations that failed because Redis was unavailable (the request went on uncached), by operation',
      labelNames: ['op'] as const,
      registers,
    }),
    reconcilerListed: new Counter({
      name: 'keel_reconciler_listed_total',
      help: "Executions the run reconciler's visibility queries returned, by query (closed_recently, closed_disagreeing, running)",
      labelNames: ['query'] as const,
      registers,
    }),
    guardrailDecisions: new Counter({
      name: 'keel_guardrail_decisions_total',
      help: 'Guardrail outcomes by guardrail and decision (pass/modified/blocked)',
      labelNames: ['guardrail', 'decision'] as const,
      registers,
    }),
  };
}

export type KeelMetrics = ReturnType<typeof createMetrics>;

/** A run may name any model; only models Keel has prices for become label values. */
export function modelLabel(prices: PriceTable, model: string | undefined): string {
  return model !== undefined && Object.hasOwn(prices, model) ? model : 'other';
}

export function recordModelUsage(metrics: KeelMetrics | undefined, prices: PriceTable, usage: StepUsage): void {
  if (!metrics) return;
  const model = modelLabel(prices, usage.model);
  if (usage.tokensIn) metrics.modelTokens.inc({ model, direction: 'input' }, usage.tokensIn);
  if (usage.tokensOut) metrics.modelTokens.inc({ model, direction: 'output' }, usage.tokensOut);
  if (usage.costUsd) metrics.modelCost.inc({ model }, usage.costUsd);
}
