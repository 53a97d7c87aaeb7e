import pino, { type Logger } from 'pino';
import type { Config } from './config';

/**
 * Keys whose values never reach a log line: credentials, and user text (questions, inputs),
 * which may hold personal data. Nothing logs these on purpose; this catches a careless `log.info(input)`.
 */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  '*.apiKey',
  '*.password',
  '*.secret',
  'apiKey',
  'authorization',
  'req.headers["x-api-key"]',
  'question',
  '*.question',
  'input',
  '*.input',
  'options.apiKey',
  'KEEL_PAYLOAD_KEYS',
  '*.KEEL_PAYLOAD_KEYS',
];

export function createLogger(config: Pick<Config, 'LOG_LEVEL'>, service: string): Logger {
  return pino({ level: config.LOG_LEVEL, base: { service }, redact: { paths: REDACT_PATHS, censor: '[redacted]' } });
}
