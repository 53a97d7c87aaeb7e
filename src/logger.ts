import pino, { type Logger } from 'pino';
import type { Config } from './config';

/** Keys whose values never reach a log line, wherever they appear in a logged object. */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  '*.apiKey',
  '*.password',
  '*.secret',
  'apiKey',
  'authorization',
];

export function createLogger(config: Pick<Config, 'LOG_LEVEL'>, service: string): Logger {
  return pino({ level: config.LOG_LEVEL, base: { service }, redact: { paths: REDACT_PATHS, censor: '[redacted]' } });
}
