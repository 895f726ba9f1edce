import { pino } from 'pino';

export type Logger = pino.Logger;

/**
 * Where a secret could appear in a log line: request headers (fastify's `req` serializer, or raw headers),
 * and fields named like credentials at the top level or one level down.
 */
export const REDACTED_LOG_PATHS = [
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'req.headers["x-thoth-event-ingest-token"]',
  'req.headers.cookie',
  'headers.authorization',
  'headers["x-api-key"]',
  'headers["x-thoth-event-ingest-token"]',
  'headers.cookie',
  'authorization',
  '*.authorization',
  'api_key',
  '*.api_key',
  'apiKey',
  '*.apiKey',
  'token',
  '*.token',
  'hold_token',
  '*.hold_token',
  'admin_token',
  'adminToken',
  'key_hash',
  '*.key_hash',
  'secret',
  '*.secret',
  'password',
  '*.password',
];

/** Structured JSON logs on stdout. Secrets are redacted wherever they could appear in a logged request. */
export function createLogger(level: string, name = 'thoth', destination?: pino.DestinationStream): Logger {
  return pino(
    { name, level, redact: { paths: REDACTED_LOG_PATHS, censor: '[REDACTED]' } },
    destination as pino.DestinationStream,
  );
}
