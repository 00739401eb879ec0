import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ThumbnailerError } from '../../errors.js';

/**
 * The few host.json settings the function's own decisions depend on. The Functions host owns
 * delivery, but the function must know when a delivery is the last one (so a transient failure is
 * written to the poison queue with its reason instead of being retried) and how long it may run
 * (so it stops a job cleanly before the host's `functionTimeout` kills the worker process).
 */
export interface HostQueueConfig {
  /** `extensions.queues.maxDequeueCount`: deliveries before the host poisons a message. */
  maxDequeueCount: number;
  /** `functionTimeout` in milliseconds; undefined when unbounded ("-1"). */
  functionTimeoutMs?: number;
}

/** The host's defaults: 5 deliveries; 30 minutes on Premium and Dedicated plans. */
export const HOST_DEFAULTS: Readonly<Required<HostQueueConfig>> = {
  maxDequeueCount: 5,
  functionTimeoutMs: 30 * 60_000,
};

const notATimeSpan = (value: string, hint = '') =>
  new ThumbnailerError('E_OPTION_INVALID', `"${value}" is not a time span${hint}`);

/**
 * A .NET TimeSpan as host.json writes it: `hh:mm:ss`, `d.hh:mm:ss`, optional fractional seconds;
 * `-1` means unbounded (undefined). Throws on anything else.
 */
export function parseTimeSpan(value: string): number | undefined {
  const text = value.trim();
  if (text === '-1') return undefined;
  const m = /^(?:(\d+)\.)?(\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.(\d{1,7}))?$/.exec(text);
  if (!m) throw notATimeSpan(value, ' (hh:mm:ss or d.hh:mm:ss, or -1)');
  const [, days = '0', hours, minutes, seconds, fraction = '0'] = m;
  if (Number(minutes) > 59 || Number(seconds) > 59) throw notATimeSpan(value);
  const ms =
    ((Number(days) * 24 + Number(hours)) * 60 + Number(minutes)) * 60_000 +
    Number(seconds) * 1000 +
    Math.round(Number(`0.${fraction}`) * 1000);
  return ms;
}

/** App settings override host.json as `AzureFunctionsJobHost__path__to__key` (case-insensitive). */
function override(env: NodeJS.ProcessEnv, path: string): string | undefined {
  const wanted = `azurefunctionsjobhost__${path}`.toLowerCase();
  for (const [key, value] of Object.entries(env)) {
    if (key.toLowerCase() === wanted && value !== undefined && value !== '') return value;
  }
  return undefined;
}

function field(object: unknown, key: string): unknown {
  if (!object || typeof object !== 'object') return undefined;
  const found = Object.keys(object).find((k) => k.toLowerCase() === key.toLowerCase());
  return found === undefined ? undefined : (object as Record<string, unknown>)[found];
}

/** The settings from a parsed host.json and the environment's overrides, with the host's defaults. */
export function hostConfigFrom(hostJson: unknown, env: NodeJS.ProcessEnv = process.env): HostQueueConfig {
  const queues = field(field(hostJson, 'extensions'), 'queues');
  const rawCount = override(env, 'extensions__queues__maxDequeueCount') ?? field(queues, 'maxDequeueCount');
  const count = rawCount === undefined ? HOST_DEFAULTS.maxDequeueCount : Number(rawCount);
  if (!Number.isInteger(count) || count < 1) {
    throw new ThumbnailerError(
      'E_OPTION_INVALID',
      `host.json extensions.queues.maxDequeueCount must be a positive whole number, not ${String(rawCount)}`,
    );
  }
  const rawTimeout = override(env, 'functionTimeout') ?? field(hostJson, 'functionTimeout');
  const functionTimeoutMs =
    rawTimeout === undefined || rawTimeout === null
      ? HOST_DEFAULTS.functionTimeoutMs
      : parseTimeSpan(String(rawTimeout));
  return { maxDequeueCount: count, functionTimeoutMs };
}

/**
 * The function app's root: where host.json sits, three folders above this compiled file
 * (`<root>/dist/hosts/functions/host-config.js`), which is `AzureWebJobsScriptRoot` in the image.
 */
export const SCRIPT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** Reads `<root>/host.json`; a missing file means the host's defaults. */
export function readHostConfig(
  root: string = SCRIPT_ROOT,
  env: NodeJS.ProcessEnv = process.env,
): HostQueueConfig {
  let text: string;
  try {
    text = readFileSync(join(root, 'host.json'), 'utf8');
  } catch {
    return hostConfigFrom({}, env);
  }
  return hostConfigFrom(JSON.parse(text) as unknown, env);
}
