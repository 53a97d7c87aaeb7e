import type OpenAI from 'openai';
import type { Db } from '../db/client';
import type { PriceTable } from '../llm/pricing';
import type { KeelMetrics } from '../metrics/metrics';
import { createAlertActivities, type AlertWebhook } from './alerts';
import { createGenerateActivities } from './generate';
import { createRunStatusActivities } from './run-status';
import { createSanitizeActivities } from './sanitize';

export interface ActivityDeps {
  db: Db;
  llm: OpenAI;
  prices: PriceTable;
  heartbeatIntervalMs?: number;
  metrics?: KeelMetrics;
  /** Where `notifyOperator` posts when a run pauses on failure; unset → nobody is called. */
  alertWebhook?: AlertWebhook;
}

/** Every activity Keel runs, built once per worker from its clients. */
export function createActivities(deps: ActivityDeps) {
  return {
    ...createSanitizeActivities(deps.db, deps.metrics),
    ...createGenerateActivities(deps),
    ...createRunStatusActivities(deps.db, deps.metrics),
    ...createAlertActivities(deps.alertWebhook),
  };
}

export type Activities = ReturnType<typeof createActivities>;
