import type { Config } from '../config';

export type PriceTable = Config['KEEL_MODEL_PRICES'];

/** Estimated cost in USD, or undefined when the model has no price in the table. */
export function estimateCostUsd(prices: PriceTable, model: string, tokensIn: number, tokensOut: number): number | undefined {
  const price = prices[model];
  if (!price) return undefined;
  return Number(((tokensIn * price.input + tokensOut * price.output) / 1_000_000).toFixed(6));
}
