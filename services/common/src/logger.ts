import { pino } from 'pino';

export type Logger = pino.Logger;

/** Structured JSON logs on stdout. Secrets are redacted wherever they could appear in a logged request. */
export function createLogger(level: string, name = 'thoth'): Logger {
  return pino({
    name,
    level,
    redact: {
      paths: ['req.headers.authorization', 'req.headers["x-api-key"]', 'api_key', '*.api_key', 'token'],
      censor: '[REDACTED]',
    },
  });
}
