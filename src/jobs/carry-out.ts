import type { MessageQueue } from '../adapters/queue.js';
import { asThumbnailerError, type ThumbnailerError } from '../errors.js';
import type { Logger } from '../logger.js';
import { poisonBody } from './policy.js';
import type { Decision, JobEventBase, JobInfo, JobMessage, SettledEvents } from './types.js';

/**
 * What one host does with one delivered message, so that `carryOut` can say once what each
 * decision means. The built-in Worker owns its messages (it deletes and re-hides them); the
 * Functions host owns them for the function (it deletes a message when the function returns and
 * redelivers it when the function throws), so its port mostly lets the host act.
 */
export interface DeliveryPort {
  message: JobMessage;
  /** What the job handler learnt of the job (its id, its video), for the events. */
  info: JobInfo;
  /** The message is done with and goes: the Worker deletes it; the Functions host returns. */
  finish(): Promise<void>;
  /**
   * The message comes back after `delayMs`, counted as a delivery: the Worker re-hides it; the
   * Functions host keeps `error` and throws it once the decision is carried out, so that the host
   * redelivers the message after its own visibility timeout.
   */
  redeliver(delayMs: number, error: ThumbnailerError): Promise<void>;
  /** The request queue, for a waiting message's fresh copy. */
  queue: Pick<MessageQueue, 'send'>;
  poison: Pick<MessageQueue, 'send'>;
  /** Hears what became of the message: the Worker emits its events; the Functions host logs them. */
  settled: <K extends keyof SettledEvents>(event: K, ...args: SettledEvents[K]) => void;
  /** A failure on the way that the decision survived (a fresh copy that could not be queued). */
  onError?(error: unknown): void;
}

/**
 * Carries out a job's decision through the host's port:
 * - `ack`: the message goes (done, skipped, ignored);
 * - `retry`: it comes back after the backoff, counted as a delivery;
 * - `poison`: the poison queue gets the original message (secrets redacted) with the reason, then
 *   the message goes;
 * - `release` (shutdown) and `wait` (no fault of the job's): a fresh copy, visible at once or after
 *   the wait, then the message goes; waiting never counts toward the poison limit.
 * Throws when a queue operation fails: the message then comes back after its visibility timeout.
 */
export async function carryOut(decision: Decision, port: DeliveryPort): Promise<void> {
  const { message, info } = port;
  const base: JobEventBase = {
    messageId: message.id,
    jobId: info.jobId,
    video: info.video,
    attempt: message.dequeueCount,
  };
  switch (decision.action) {
    case 'ack':
      await port.finish();
      port.settled('completed', { ...base, outcome: decision.outcome });
      return;
    case 'retry':
      await port.redeliver(decision.delayMs, decision.error);
      port.settled('failed', { ...base, error: decision.error, retryInMs: decision.delayMs });
      return;
    case 'release':
      // Shutdown is no fault of the job's: it comes back at once, as a fresh delivery.
      await requeue(port, 0);
      port.settled('released', { ...base, error: decision.error });
      return;
    case 'wait':
      await requeue(port, decision.delayMs);
      port.settled('deferred', { ...base, reason: decision.reason, delayMs: decision.delayMs });
      return;
    case 'poison':
      await port.poison.send(poisonBody(message, decision.error.toJSON(), decision.info), {
        timeToLiveSeconds: -1,
      });
      await port.finish();
      port.settled('poisoned', { ...base, error: decision.error });
      return;
  }
}

/**
 * Gives a message back without counting a delivery: a fresh copy (dequeue count 1) visible after
 * `delayMs`, then the original goes. Should the copy fail, the original is handed back instead
 * (then it counts, but nothing is lost); should the original's delete fail, the duplicate delivery
 * finds the work done or claimed.
 */
async function requeue(port: DeliveryPort, delayMs: number): Promise<void> {
  try {
    await port.queue.send(port.message.text, {
      base64: false,
      visibilityTimeoutSeconds: Math.ceil(delayMs / 1000),
    });
  } catch (error) {
    port.onError?.(error);
    await port.redeliver(delayMs, asThumbnailerError(error, 'E_STORAGE_UNAVAILABLE'));
    return;
  }
  await port.finish();
}

/** The log line of each settled message, the same whichever host carried the decision out. */
export function settledLog(logger: Logger): {
  [K in keyof SettledEvents]: (...args: SettledEvents[K]) => void;
} {
  return {
    completed: (e) => {
      if (e.outcome.kind === 'ignored')
        logger.info({ messageId: e.messageId, reason: e.outcome.reason }, 'message ignored');
    },
    failed: (e) =>
      logger.warn(
        { messageId: e.messageId, jobId: e.jobId, code: e.error.code, retryInMs: e.retryInMs },
        'job will be retried',
      ),
    poisoned: (e) =>
      logger.error(
        {
          messageId: e.messageId,
          jobId: e.jobId,
          video: e.video,
          attempt: e.attempt,
          code: e.error.code,
          reason: e.error.message,
        },
        'message sent to the poison queue',
      ),
    released: (e) =>
      logger.warn(
        { messageId: e.messageId, jobId: e.jobId, video: e.video },
        'job released for another worker',
      ),
    deferred: (e) =>
      logger.info(
        { messageId: e.messageId, jobId: e.jobId, video: e.video, reason: e.reason, delayMs: e.delayMs },
        'job waits; its message comes back later',
      ),
  };
}
