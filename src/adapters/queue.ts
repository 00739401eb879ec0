import type { QueueClient } from '@azure/storage-queue';
import { storageError } from './errors.js';

export interface QueueMessage {
  id: string;
  popReceipt: string;
  /** The message body as stored (base64 or plain; the parser decides). */
  text: string;
  /** 1 on the first delivery. */
  dequeueCount: number;
  insertedOn?: Date;
}

export interface QueueOptions {
  signal?: AbortSignal;
}

export interface SendOptions extends QueueOptions {
  /** Seconds before the message becomes visible. */
  visibilityTimeoutSeconds?: number;
  /** Seconds the message lives; -1 for ever (what the poison queue uses). */
  timeToLiveSeconds?: number;
  /** Encode the body as base64, as the Functions host and SDKs expect by default. */
  base64?: boolean;
}

/** One storage queue: receive, renew, delete, send. Failures leave through `storageError`. */
export class MessageQueue {
  readonly client: QueueClient;

  constructor(client: QueueClient) {
    this.client = client;
  }

  get name(): string {
    return this.client.name;
  }

  async ensure(options: QueueOptions = {}): Promise<void> {
    try {
      await this.client.createIfNotExists({ abortSignal: options.signal });
    } catch (error) {
      throw storageError(error, `creating queue ${this.name}`);
    }
  }

  async send(text: string, options: SendOptions = {}): Promise<string> {
    const body = options.base64 === false ? text : Buffer.from(text, 'utf8').toString('base64');
    try {
      const r = await this.client.sendMessage(body, {
        abortSignal: options.signal,
        visibilityTimeout: options.visibilityTimeoutSeconds,
        messageTimeToLive: options.timeToLiveSeconds,
      });
      return r.messageId;
    } catch (error) {
      throw storageError(error, `sending a message to ${this.name}`);
    }
  }

  async receive(
    count: number,
    visibilityTimeoutSeconds: number,
    options: QueueOptions = {},
  ): Promise<QueueMessage[]> {
    try {
      const r = await this.client.receiveMessages({
        numberOfMessages: Math.max(1, Math.min(32, count)),
        visibilityTimeout: visibilityTimeoutSeconds,
        abortSignal: options.signal,
      });
      return r.receivedMessageItems.map((m) => ({
        id: m.messageId,
        popReceipt: m.popReceipt,
        text: m.messageText,
        dequeueCount: m.dequeueCount,
        insertedOn: m.insertedOn,
      }));
    } catch (error) {
      throw storageError(error, `receiving from ${this.name}`);
    }
  }

  /** Changes when the message becomes visible again; returns the new pop receipt. */
  async setVisibility(
    id: string,
    popReceipt: string,
    visibilityTimeoutSeconds: number,
    options: QueueOptions = {},
  ): Promise<string> {
    try {
      const r = await this.client.updateMessage(
        id,
        popReceipt,
        undefined,
        Math.max(0, Math.round(visibilityTimeoutSeconds)),
        {
          abortSignal: options.signal,
        },
      );
      return r.popReceipt!;
    } catch (error) {
      throw storageError(error, `changing the visibility of a message in ${this.name}`);
    }
  }

  /** Deletes a message; one already gone (deleted, or taken over by another worker) is fine. */
  async delete(id: string, popReceipt: string, options: QueueOptions = {}): Promise<void> {
    try {
      await this.client.deleteMessage(id, popReceipt, { abortSignal: options.signal });
    } catch (error) {
      const e = storageError(error, `deleting a message from ${this.name}`);
      if (e.code === 'E_BLOB_NOT_FOUND') return;
      throw e;
    }
  }

  /** Approximate number of messages (visible or not), for metrics. */
  async depth(options: QueueOptions = {}): Promise<number> {
    try {
      const p = await this.client.getProperties({ abortSignal: options.signal });
      return p.approximateMessagesCount ?? 0;
    } catch (error) {
      throw storageError(error, `reading the properties of ${this.name}`);
    }
  }

  /** Visible messages without taking them (tests, doctor). */
  async peek(count = 32, options: QueueOptions = {}): Promise<string[]> {
    try {
      const r = await this.client.peekMessages({
        numberOfMessages: Math.min(32, count),
        abortSignal: options.signal,
      });
      return r.peekedMessageItems.map((m) => m.messageText);
    } catch (error) {
      throw storageError(error, `peeking ${this.name}`);
    }
  }
}
