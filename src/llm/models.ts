/**
 * Model configurations: a model as Keel calls it — its name, the endpoint serving it and its
 * price. The id changes whenever any of those change, so the ledger can tell "gpt-4o-mini at
 * 0.15/0.6 on api.openai.com" from the same name served elsewhere or repriced. Derived from the
 * model client and KEEL_MODEL_PRICES; no credentials enter it.
 */
import { createHash } from 'node:crypto';
import type { PriceTable } from './pricing';

export interface ModelConfigEntry {
  id: string;
  model: string;
  /** The endpoint's origin (scheme, host, port): never a path or credentials. */
  endpoint: string;
  price: { input: number; output: number } | null;
}

export function modelConfig(endpointUrl: string, prices: PriceTable, model: string): ModelConfigEntry {
  const endpoint = new URL(endpointUrl).origin;
  const price = prices[model] ?? null;
  const digest = createHash('sha256').update(JSON.stringify([model, endpoint, price])).digest('hex');
  return { id: `${model}@${digest.slice(0, 8)}`, model, endpoint, price };
}
