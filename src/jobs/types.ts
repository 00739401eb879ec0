import type { BlobStore } from '../adapters/blobs.js';
import type { JobTable } from '../adapters/jobs.js';
import type { GenerateOptionsInput, Limits } from '../engine/options.js';
import type { GenerateRequest, Manifest, Progress } from '../engine/types.js';
import type { ThumbnailerError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { CompletionEvents } from './events/publisher.js';
import type { MessageForm } from './messages.js';

/** One delivery of a queue message, whoever delivers it (the built-in Worker or the Functions host). */
export interface JobMessage {
  id: string;
  /** The body as stored in the queue. */
  text: string;
  /** 1 on the first delivery. */
  dequeueCount: number;
}

/** What the job handler needs: adapters, containers, the engine and the retry policy's numbers. */
export interface JobDeps {
  blobs: Pick<
    BlobStore,
    'openVideo' | 'readText' | 'uploadFile' | 'uploadText' | 'delete' | 'url' | 'endpoint'
  >;
  jobs: Pick<JobTable, 'get' | 'update' | 'claimVideo' | 'renewClaim' | 'releaseClaim'>;
  accountName: string;
  videoContainer: string;
  thumbnailContainer: string;
  generate: (request: GenerateRequest) => Promise<Manifest>;
  logger: Logger;
  /** Parent of each job's temporary folder. */
  tempDir: string;
  /** Environment defaults for job options (e.g. `layout` from THUMBNAIL_LAYOUT). */
  defaultOptions?: GenerateOptionsInput;
  limits?: Partial<Limits>;
  /** How long a claim on a video lasts without renewal (renewed at half). */
  claimTtlMs: number;
  /** Deliveries before a transient failure is poisoned. */
  maxDeliveries: number;
  retryBaseMs: number;
  retryMaxMs: number;
  /** Completion events (THUMBNAILER_EVENTS_QUEUE, THUMBNAILER_WEBHOOK_URL), when configured. */
  events?: CompletionEvents;
}

export interface JobRun {
  signal: AbortSignal;
  onProgress?: (progress: Progress & { jobId: string; video: string }) => void;
  onBytesRead?: (bytes: number) => void;
  /** Filled in as soon as known, so a failure can still be reported against the job. */
  info?: JobInfo;
}

export interface JobInfo {
  jobId?: string;
  video?: string;
  form?: MessageForm;
  /** The source's ETag, once read. */
  etag?: string;
}

export type JobOutcome =
  | {
      kind: 'done';
      jobId: string;
      video: string;
      form: MessageForm;
      manifest: Manifest;
      outputs: Record<string, string>;
      bytesRead: number;
      /** Milliseconds spent in the engine, and in the whole job. */
      engineMs: number;
      totalMs: number;
    }
  | {
      kind: 'skipped';
      jobId: string;
      video: string;
      form: MessageForm;
      /** The outputs of this source version (ETag) and these options were committed already. */
      reason: 'already-done';
      etag?: string;
      outputs: Record<string, string>;
      totalMs: number;
    }
  | { kind: 'ignored'; form: MessageForm; reason: string; totalMs: number };

/** What the host does with the message once the handler has run. */
export type Decision =
  | { action: 'ack'; outcome: JobOutcome }
  | { action: 'retry'; error: ThumbnailerError; delayMs: number; info: JobInfo }
  | { action: 'poison'; error: ThumbnailerError; info: JobInfo }
  | { action: 'release'; error: ThumbnailerError; info: JobInfo }
  /**
   * Not this job's failure: the same work runs elsewhere, the video is busy, the job table is
   * unreachable or the claim went to another worker. The host queues a fresh copy of the message
   * visible after `delayMs` and deletes this one, so waiting never counts as a delivery toward the
   * poison limit.
   */
  | { action: 'wait'; reason: WaitReason; delayMs: number; error?: ThumbnailerError; info: JobInfo };

export type WaitReason = 'duplicate' | 'video-busy' | 'table-unavailable' | 'claim-lost';

export interface JobEventBase {
  messageId: string;
  jobId?: string;
  video?: string;
  attempt: number;
}

/**
 * What became of a message once its decision was carried out (`carryOut`): the same events from
 * every host, whatever its queue operations.
 */
export interface SettledEvents {
  /** Done, skipped (already made) or ignored: the message is gone. */
  completed: [JobEventBase & { outcome: JobOutcome }];
  /** A transient failure: the message comes back after `retryInMs`, counted as a delivery. */
  failed: [JobEventBase & { error: ThumbnailerError; retryInMs: number }];
  /** On the poison queue with its reason; the message is gone. */
  poisoned: [JobEventBase & { error: ThumbnailerError }];
  /** Given back at once on shutdown, as a fresh copy. */
  released: [JobEventBase & { error: ThumbnailerError }];
  /** A job waits (duplicate, busy video, table outage, lost claim): a fresh copy comes back later. */
  deferred: [JobEventBase & { reason: WaitReason; delayMs: number }];
}

/**
 * The job events a host emits while it runs jobs (the Worker does): metrics, logs and server-sent
 * events feed on these, without knowing which host runs the jobs.
 */
export interface JobEvents extends SettledEvents {
  started: [JobEventBase];
  progress: [JobEventBase & Progress];
}

type Settled = 'completed' | 'failed' | 'poisoned' | 'released';

/** Something that emits job events (an in-process Worker), as the HTTP API listens to it. */
export interface JobEventSource {
  on(event: 'progress', listener: (...args: JobEvents['progress']) => void): unknown;
  on(event: Settled, listener: (event: JobEventBase) => void): unknown;
  off(event: 'progress', listener: (...args: JobEvents['progress']) => void): unknown;
  off(event: Settled, listener: (event: JobEventBase) => void): unknown;
}
