import type OpenAI from 'openai';
import type { Db } from '../db/client';
import type { PriceTable } from '../llm/pricing';
import type { KeelMetrics } from '../metrics/metrics';
import { createGenerateActivities } from './generate';
import { createRunStatusActivities } from './run-status';
import { createSanitizeActivities } from './sanitize';

export interface ActivityDeps {
  db: Db;
  llm: OpenAI;
  prices: PriceTable;
  heartbeatIntervalMs?: number;
  metrics?: KeelMetrics;
}

/** Every activity Keel runs, built once per worker from its clients. */
export function createActivities(deps: ActivityDeps) {
  return {
    ...createSanitizeActivities(deps.db, deps.metrics),
    ...createGenerateActivities(deps),
    ...createRunStatusActivities(deps.db, deps.metrics),
  };
}

export type Activities = ReturnType<typeof createActivities>;
