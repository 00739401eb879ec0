import { pino, type Logger, type DestinationStream } from 'pino';
import { redactSecrets } from './errors.js';

export type { Logger };

export interface LoggerOptions {
  level?: string;
  /** Where JSON lines go; stdout by default. */
  destination?: DestinationStream;
  /** Fixed fields on every line (e.g. `{ worker: 'w1' }`). */
  base?: Record<string, unknown>;
}

function scrub(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return redactSecrets(value);
  if (depth > 4 || value === null || typeof value !== 'object' || value instanceof Error) return value;
  if (Array.isArray(value)) return value.map((v) => scrub(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = scrub(v, depth + 1);
  return out;
}

/**
 * Structured JSON logs. Secrets never reach a line: well-known fields are censored by path, and
 * every string (messages, error text, URLs) passes through `redactSecrets`.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  return pino(
    {
      level: options.level ?? 'info',
      base: { service: 'thumbnailer', ...options.base },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: {
        paths: [
          'connectionString',
          '*.connectionString',
          'accountKey',
          '*.accountKey',
          'sasUrl',
          '*.sasUrl',
          'headers.authorization',
          '*.headers.authorization',
          'req.headers.authorization',
        ],
        censor: '[REDACTED]',
      },
      serializers: {
        err: (e: unknown) => {
          const err = e as { name?: string; code?: unknown; message?: string; stack?: string };
          return {
            type: err?.name,
            code: err?.code,
            message: redactSecrets(String(err?.message ?? e)),
            stack: err?.stack ? redactSecrets(err.stack) : undefined,
          };
        },
      },
      formatters: { log: (object) => scrub(object) as Record<string, unknown> },
      hooks: {
        logMethod(args, method) {
          const scrubbed = args.map((a) => (typeof a === 'string' ? redactSecrets(a) : a)) as typeof args;
          return method.apply(this, scrubbed);
        },
      },
    },
    options.destination,
  );
}
