import { EventEmitter } from 'node:events';
import type { EventSettings, Settings } from '../../config.js';
import type { Storage } from '../../adapters/storage.js';
import type { MessageQueue } from '../../adapters/queue.js';
import { ThumbnailerError, asThumbnailerError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { completedEvent, failedEvent, type CompletionEvent } from './event.js';
import { WebhookSender } from './webhook.js';

export type EventChannel = 'queue' | 'webhook';

export interface CompletionEventsOptions {
  /** The event's `source`: the thumbnails container's URL. */
  source: string;
  /** THUMBNAILER_EVENTS_QUEUE, created on first use when missing. */
  queue?: Pick<MessageQueue, 'send' | 'ensure' | 'name'>;
  webhook?: EventSettings['webhook'];
}

/** What the job handler knows when a job ends. */
export type JobEnd =
  | {
      outcome: 'completed';
      jobId: string;
      video: string;
      etag?: string;
      outputs: Record<string, string>;
    }
  | {
      outcome: 'failed';
      jobId: string;
      video?: string;
      etag?: string;
      error: { code: string; message: string };
    };

/**
 * Sends each job's completion event on the configured channels (docs/contract.md section 10). The
 * queue is part of the job's at-least-once promise: a failed send throws, so the caller keeps the
 * request message for a redelivery (which sends the same event id again). The webhook is best
 * effort with bounded retries: its failure is logged and reported as a `delivery` event (which
 * /metrics counts), never thrown.
 */
export class CompletionEvents extends EventEmitter<{
  delivery: [{ channel: EventChannel; ok: boolean }];
}> {
  readonly source: string;
  private readonly queue?: CompletionEventsOptions['queue'];
  private readonly webhook?: WebhookSender;
  private queueReady?: Promise<void>;

  constructor(options: CompletionEventsOptions) {
    super();
    this.source = options.source;
    this.queue = options.queue;
    this.webhook = options.webhook ? new WebhookSender(options.webhook) : undefined;
  }

  get channels(): EventChannel[] {
    return [...(this.queue ? (['queue'] as const) : []), ...(this.webhook ? (['webhook'] as const) : [])];
  }

  event(end: JobEnd, now = new Date()): CompletionEvent {
    return end.outcome === 'completed'
      ? completedEvent(
          this.source,
          { jobId: end.jobId, video: end.video, etag: end.etag, outputs: end.outputs },
          now,
        )
      : failedEvent(
          this.source,
          { jobId: end.jobId, video: end.video, etag: end.etag, error: end.error },
          now,
        );
  }

  /** Sends the event on every channel at once; throws only when the queue could not take it. */
  async publish(end: JobEnd, options: { logger: Logger; signal?: AbortSignal }): Promise<CompletionEvent> {
    const event = this.event(end);
    const body = JSON.stringify(event);
    const log = options.logger.child({ eventId: event.id, eventType: event.type });
    const [queued, hooked] = await Promise.allSettled([
      this.queue ? this.sendToQueue(body) : Promise.resolve(),
      this.webhook ? this.webhook.deliver(event.id, body, options) : Promise.resolve(undefined),
    ]);
    if (this.webhook) {
      const ok = hooked.status === 'fulfilled' && hooked.value?.ok === true;
      this.emit('delivery', { channel: 'webhook', ok });
      if (ok) log.debug({ channel: 'webhook', webhook: this.webhook.target }, 'completion event delivered');
    }
    if (this.queue) {
      this.emit('delivery', { channel: 'queue', ok: queued.status === 'fulfilled' });
      if (queued.status === 'rejected') {
        const error = asThumbnailerError(queued.reason, 'E_STORAGE_UNAVAILABLE');
        log.warn({ channel: 'queue', queue: this.queue.name, err: error }, 'completion event not queued');
        throw error;
      }
      log.debug({ channel: 'queue', queue: this.queue.name }, 'completion event queued');
    }
    return event;
  }

  private async sendToQueue(body: string): Promise<void> {
    const queue = this.queue!;
    this.queueReady ??= queue.ensure().catch((error: unknown) => {
      this.queueReady = undefined;
      throw error;
    });
    await this.queueReady;
    try {
      // base64: what the Functions queue trigger reads by default (host.json messageEncoding).
      await queue.send(body, { base64: true, timeToLiveSeconds: -1 });
    } catch (error) {
      // Deleted since we created it: create it again once.
      if (ThumbnailerError.is(error) && error.code === 'E_BLOB_NOT_FOUND') {
        await queue.ensure();
        await queue.send(body, { base64: true, timeToLiveSeconds: -1 });
        return;
      }
      throw error;
    }
  }
}

/** The publisher the settings ask for, or undefined when no channel is configured. */
export function completionEventsFrom(
  settings: Pick<Settings, 'events' | 'thumbnailContainer'>,
  storage: Pick<Storage, 'blobs' | 'queueNamed'>,
): CompletionEvents | undefined {
  const { queueName, webhook } = settings.events;
  if (!queueName && !webhook) return undefined;
  return new CompletionEvents({
    source: `${storage.blobs.endpoint}${settings.thumbnailContainer}`,
    queue: queueName ? storage.queueNamed(queueName) : undefined,
    webhook,
  });
}
