import OpenAI from 'openai';
import type { Config } from '../config';

/**
 * The one way Keel builds a model client. Temporal owns retries, so the SDK never retries on
 * its own; the HTTP timeout sits below the activity's start-to-close timeout so a hung call
 * surfaces as a retryable timeout rather than a killed attempt.
 */
export function createLlmClient(config: Pick<Config, 'llm' | 'KEEL_MODEL_TIMEOUT_MS'>): OpenAI {
  return new OpenAI({
    baseURL: config.llm.baseURL,
    apiKey: config.llm.apiKey,
    maxRetries: 0,
    timeout: config.KEEL_MODEL_TIMEOUT_MS,
  });
}
