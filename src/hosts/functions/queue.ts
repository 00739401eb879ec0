import type { InvocationContext } from '@azure/functions';
import { carryOut, settledLog } from '../../jobs/carry-out.js';
import { handleMessage } from '../../jobs/handler.js';
import { JobStop, jobController } from '../../jobs/stop.js';
import type { ThumbnailerError } from '../../errors.js';
import type { Decision, JobInfo, JobMessage } from '../../jobs/types.js';
import { ensureResources, getRuntime, invocationDeps } from './runtime.js';

/**
 * The queue-triggered function: one message, the shared job handler, and the host's delivery
 * contract. The host owns the message (it hides it while the function runs, deletes it when the
 * function returns, makes it visible again when the function throws, and moves it to
 * `<queue>-poison` after `maxDequeueCount` deliveries), so this function never deletes it. The
 * decision is carried out as the built-in worker's is (`carryOut`), through a port that:
 * - returns when the job is done, skipped or ignored, or once a waiting job's fresh copy is queued;
 * - throws on a transient failure, so the host redelivers after host.json's `visibilityTimeout`;
 * - on a permanent failure (or a transient one on the last delivery) writes the poison message
 *   with the reason itself and returns, so the message is not retried for nothing.
 */

/** Jobs in hand, cancelled when the host stops the worker (appTerminate). */
const inFlight = new Set<(reason: JobStop) => void>();

/** Margin left before the host's functionTimeout, so a job stops cleanly and the host need not. */
const TIMEOUT_MARGIN_MS = 60_000;

/**
 * The message as the shared parser expects it. The Node.js library hands the trigger over as the
 * host sent it, after `JSON.parse` when the text parses as JSON: a string for plain or
 * base64 text, an object for a JSON job or an Event Grid event, or even a number or boolean for a
 * body that happens to read as one. Anything but a string is serialised back to JSON text.
 */
export function messageText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value instanceof Uint8Array) return Buffer.from(value).toString('utf8');
  if (value === undefined) return '';
  return JSON.stringify(value) ?? '';
}

/**
 * `triggerMetadata.dequeueCount`: a 64-bit integer in the RPC message, so it may arrive as a
 * number, a numeric string or a protobuf Long (`{ low, high }`) depending on the worker; 1 when
 * absent or unreadable.
 */
export function dequeueCountOf(context: Pick<InvocationContext, 'triggerMetadata'>): number {
  const raw = context.triggerMetadata?.dequeueCount;
  let n = NaN;
  if (typeof raw === 'number') n = raw;
  else if (typeof raw === 'string' || typeof raw === 'bigint') n = Number(raw);
  else if (raw && typeof raw === 'object') {
    const long = raw as { low?: unknown; high?: unknown; toNumber?: unknown };
    if (typeof long.toNumber === 'function') n = Number((long.toNumber as () => number).call(raw));
    else if (typeof long.low === 'number' && typeof long.high === 'number')
      n = long.high * 2 ** 32 + (long.low >>> 0);
  }
  return Number.isInteger(n) && n >= 1 ? n : 1;
}

/** The Functions handler for `%THUMBNAIL_QUEUE%`. */
export async function processQueueMessage(queueItem: unknown, context: InvocationContext): Promise<void> {
  const rt = await getRuntime();
  await ensureResources(rt);
  const rawId = context.triggerMetadata?.id;
  const message: JobMessage = {
    id: typeof rawId === 'string' && rawId ? rawId : context.invocationId,
    text: messageText(queueItem),
    dequeueCount: dequeueCountOf(context),
  };
  const deps = invocationDeps(rt, context);

  const limitMs = Math.min(
    rt.settings.worker.jobTimeoutMs,
    rt.host.functionTimeoutMs === undefined
      ? Infinity
      : Math.max(1000, rt.host.functionTimeoutMs - TIMEOUT_MARGIN_MS),
  );
  // A timeout is transient (docs/contract.md section 7): retried up to maxDequeueCount.
  const job = jobController(limitMs);
  inFlight.add(job.stop);
  const info: JobInfo = {};
  let decision: Decision;
  try {
    decision = await handleMessage(message, deps, { signal: job.signal, info });
  } finally {
    job.dispose();
    inFlight.delete(job.stop);
  }

  // The host owns the message: it deletes it when this returns and redelivers it when this throws.
  const log = settledLog(deps.logger);
  let handBack: ThumbnailerError | undefined;
  await carryOut(decision, {
    message,
    info,
    finish: async () => undefined,
    redeliver: async (_delayMs, error) => {
      handBack = error;
    },
    queue: rt.storage.queue,
    poison: rt.storage.poison,
    settled: (event, ...args) => (log[event] as (...a: typeof args) => void)(...args),
  });
  // Thrown, the error hands the message back: the host redelivers it after host.json's
  // visibilityTimeout (not the decision's delay), and poisons it itself after maxDequeueCount.
  if (handBack) throw handBack;
}

/** appTerminate: stop ffmpeg and clean up; the host redelivers the messages. */
export function cancelInFlight(): void {
  for (const stop of inFlight) stop(JobStop.shutdown('Functions worker'));
}
