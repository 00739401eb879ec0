import type { InvocationContext } from '@azure/functions';
import { handleMessage } from '../../jobs/handler.js';
import { poisonBody } from '../../jobs/policy.js';
import { JobStop, jobController } from '../../jobs/stop.js';
import type { Decision, JobInfo, JobMessage } from '../../jobs/types.js';
import { ensureResources, getRuntime, invocationDeps } from './runtime.js';

/**
 * The queue-triggered function: one message, the shared job handler, and the host's delivery
 * contract. The host owns the message (it hides it while the function runs, deletes it when the
 * function returns, makes it visible again when the function throws, and moves it to
 * `<queue>-poison` after `maxDequeueCount` deliveries), so this function never deletes it. It:
 * - returns when the job is done, skipped or ignored;
 * - throws on a transient failure, so the host redelivers after host.json's `visibilityTimeout`;
 * - on a permanent failure (or a transient one on the last delivery) records the job as failed,
 *   writes the poison message with the reason itself, as the built-in worker does, and returns,
 *   so the message is not retried for nothing.
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

  const log = deps.logger.child({ messageId: message.id, attempt: message.dequeueCount });
  switch (decision.action) {
    case 'ack': {
      const o = decision.outcome;
      if (o.kind === 'ignored') log.info({ outcome: o.kind, reason: o.reason }, 'message ignored');
      return;
    }
    case 'release':
    case 'wait': {
      // No fault of the job's: a fresh copy (not counted as a delivery) comes back later, and
      // this one returns so the host deletes it. Should the copy fail, throwing hands the
      // message back to the host, which redelivers it (counted).
      const delayMs = decision.action === 'wait' ? decision.delayMs : 0;
      await rt.storage.queue.send(message.text, {
        base64: false,
        visibilityTimeoutSeconds: Math.ceil(delayMs / 1000),
      });
      log.info(
        {
          jobId: decision.info.jobId,
          reason: decision.action === 'wait' ? decision.reason : 'shutdown',
          delayMs,
        },
        'job waits; a fresh copy of its message comes back later',
      );
      return;
    }
    case 'retry':
      // The host makes the message visible again after visibilityTimeout and redelivers it.
      log.warn(
        { jobId: decision.info.jobId, code: decision.error.code, maxDequeueCount: rt.host.maxDequeueCount },
        'job attempt failed; the host will redeliver the message',
      );
      throw decision.error;
    case 'poison': {
      const error = decision.error;
      // If this write fails, throwing hands the message back to the host, whose own poison
      // handling still applies on the last delivery.
      await rt.storage.poison.send(poisonBody(message, error.toJSON(), decision.info), {
        timeToLiveSeconds: -1,
      });
      log.error(
        { jobId: decision.info.jobId, video: decision.info.video, code: error.code, reason: error.message },
        'message sent to the poison queue',
      );
      return;
    }
  }
}

/** appTerminate: stop ffmpeg and clean up; the host redelivers the messages. */
export function cancelInFlight(): void {
  for (const stop of inFlight) stop(JobStop.shutdown('Functions worker'));
}
