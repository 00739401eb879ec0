import type { Logger } from '../../logger.js';
import type { Decision, JobMessage } from '../types.js';
import type { CompletionEvents, JobEnd } from './publisher.js';

/**
 * What a job's decision tells downstream: `completed` when the outputs are committed (made now, or
 * already there for this ETag and options), `failed` when the message goes to the poison queue.
 * Retries, releases, ignored messages and work left to another message tell nothing yet.
 */
export function jobEnd(decision: Decision, message: JobMessage): JobEnd | undefined {
  if (decision.action === 'ack') {
    const o = decision.outcome;
    if (o.kind === 'done')
      return {
        outcome: 'completed',
        jobId: o.jobId,
        video: o.video,
        etag: o.manifest.input.etag,
        outputs: o.outputs,
      };
    if (o.kind === 'skipped')
      return { outcome: 'completed', jobId: o.jobId, video: o.video, etag: o.etag, outputs: o.outputs };
    return undefined;
  }
  if (decision.action === 'poison') {
    const info = decision.info;
    return {
      outcome: 'failed',
      jobId: info.jobId ?? message.id,
      video: info.video,
      etag: info.etag,
      error: { code: decision.error.code, message: decision.error.message },
    };
  }
  return undefined;
}

/**
 * The one call the job handler makes once a job's decision is known, before its host deletes or
 * poisons the message. Throws only when a completed job's event could not be queued: the caller
 * then keeps the message, and its redelivery (outputs already committed) sends the same event.
 */
export async function announceCompletion(
  events: CompletionEvents,
  decision: Decision,
  message: JobMessage,
  logger: Logger,
  signal?: AbortSignal,
): Promise<void> {
  const end = jobEnd(decision, message);
  if (!end) return;
  const log = logger.child({ jobId: end.jobId, video: end.video });
  try {
    await events.publish(end, { logger: log, signal });
  } catch (error) {
    if (decision.action === 'ack') throw error;
    // A poisoned message goes on to the poison queue: its reason is kept there and in the job record.
    log.error({ err: error }, "the failed job's event could not be queued");
  }
}
