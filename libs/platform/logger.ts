import { pino, type Logger } from 'pino';
import { traceIdsOf } from './tracing.js';

// Structured JSON logs. Anything that could carry a credential is redacted by path, so a
// key cannot reach a log line even when a whole request or config object is logged.
export const REDACTED_PATHS = [
  'authorization',
  '*.authorization',
  'headers.authorization',
  'req.headers.authorization',
  'apiKey',
  '*.apiKey',
  'privateKey',
  '*.privateKey',
  'password',
  '*.password',
  'secret',
  '*.secret',
  'DATABASE_URL',
];

export function createLogger(name: string, level = process.env.LOG_LEVEL ?? 'info'): Logger {
  // Lines written inside a recording span carry its trace_id and span_id, to find them from a trace.
  return pino({ name, level, redact: { paths: REDACTED_PATHS, censor: '[redacted]' }, base: { service: name, pid: process.pid }, mixin: () => traceIdsOf() });
}

/** Removes the password from a connection URL before it is shown anywhere. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = 'redacted';
    return parsed.toString();
  } catch {
    return '[unparseable url]';
  }
}
