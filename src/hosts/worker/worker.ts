import { EventEmitter } from 'node:events';
import type { MessageQueue, QueueMessage } from '../../adapters/queue.js';
import { ThumbnailerError } from '../../errors.js';
import { carryOut } from '../../jobs/carry-out.js';
import { handleMessage } from '../../jobs/handler.js';
import { JobStop, jobController } from '../../jobs/stop.js';
import type { Decision, JobDeps, JobEventBase, JobEvents, JobInfo, SettledEvents } from '../../jobs/types.js';
import { VisibilityRenewer } from './renewer.js';

export interface WorkerOptions {
  queue: Pick<MessageQueue, 'receive' | 'delete' | 'setVisibility' | 'send' | 'name'>;
  poison: Pick<MessageQueue, 'send'>;
  job: JobDeps;
  concurrency: number;
  visibilityTimeoutSeconds: number;
  pollIntervalMs: number;
  /** Default grace of `close()`. */
  shutdownGraceMs: number;
  jobTimeoutMs: number;
  /** Longest pause after repeated storage failures. */
  maxBackoffMs?: number;
}

export type { JobEventBase };

/** Typed events: metrics, logs and server-sent events feed on these. */
export interface WorkerEvents extends JobEvents {
  bytesRead: [number];
  /**
   * Storage became unreachable (`true`, with the failure that showed it) or reachable again
   * (`false`). Emitted once per outage: failures while it is down are not reported again.
   */
  storageDown: [boolean, unknown?];
  idle: [];
  error: [unknown];
  closed: [];
}

interface InFlight {
  message: QueueMessage;
  stop: (reason: JobStop) => void;
  done: Promise<void>;
}

/** A storage failure that time may cure (connection refused or reset, 5xx, throttling). */
const isStorageOutage = (error: unknown) =>
  ThumbnailerError.is(error) && error.code === 'E_STORAGE_UNAVAILABLE';

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });

/**
 * The queue worker: receives up to `concurrency` messages, keeps them invisible while their jobs
 * run, and carries out each job's decision (`carryOut`: delete, re-hide, poison, or a fresh copy). `close()` is
 * memoised and ordered: stop receiving, let jobs finish within the grace, cancel the rest and
 * release their messages, stop renewing, emit `closed`.
 */
export class Worker extends EventEmitter<WorkerEvents> {
  private readonly opts: WorkerOptions;
  private readonly renewer: VisibilityRenewer;
  private readonly inFlight = new Map<string, InFlight>();
  private readonly stopReceiving = new AbortController();
  private loop?: Promise<void>;
  private closing?: Promise<void>;
  private slotFreed?: () => void;
  private storageDown = false;
  private onceTaken?: (message: QueueMessage | undefined) => void;

  constructor(options: WorkerOptions) {
    super();
    this.opts = options;
    this.renewer = new VisibilityRenewer(options.queue, options.visibilityTimeoutSeconds);
    this.renewer.on('error', (error) => this.reportError(error, true));
    this.renewer.on('lost', (id, error) => {
      this.opts.job.logger.warn(
        { messageId: id, err: error },
        'message lost while running: another worker may redo it',
      );
    });
  }

  get running(): number {
    return this.inFlight.size;
  }

  /** True while storage answers (readiness reads this). */
  get storageHealthy(): boolean {
    return !this.storageDown;
  }

  /** Starts the receive loop; resolves at once. */
  start(): void {
    if (this.loop || this.closing) return;
    this.loop = this.receiveLoop().catch((error: unknown) => {
      this.reportError(error);
    });
  }

  /**
   * `--once`: waits for one message (up to `waitMs`), runs it to the end and resolves with its
   * decision, or undefined when none came.
   */
  async runOnce(waitMs = 30_000): Promise<Decision | undefined> {
    const deadline = Date.now() + waitMs;
    while (!this.stopReceiving.signal.aborted && Date.now() < deadline) {
      let messages: QueueMessage[];
      try {
        messages = await this.opts.queue.receive(1, this.opts.visibilityTimeoutSeconds, {
          signal: this.stopReceiving.signal,
        });
        this.setStorageDown(false);
      } catch (error) {
        if (this.stopReceiving.signal.aborted) break;
        this.reportError(error, true);
        await sleep(this.opts.pollIntervalMs, this.stopReceiving.signal);
        continue;
      }
      if (messages.length === 0) {
        await sleep(this.opts.pollIntervalMs, this.stopReceiving.signal);
        continue;
      }
      let decision: Decision | undefined;
      await this.runJob(messages[0]!, (d) => (decision = d));
      return decision;
    }
    return undefined;
  }

  /** Memoised: every call gets the first call's promise. */
  close(graceMs: number = this.opts.shutdownGraceMs): Promise<void> {
    return (this.closing ??= this.shutdown(graceMs));
  }

  private async shutdown(graceMs: number): Promise<void> {
    // 1. stop taking messages
    this.stopReceiving.abort();
    this.slotFreed?.();
    await this.loop;
    // 2. let jobs in hand finish within the grace period
    const all = () => Promise.all([...this.inFlight.values()].map((j) => j.done));
    if (this.inFlight.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([all(), new Promise<void>((r) => (timer = setTimeout(r, graceMs)))]);
      clearTimeout(timer);
    }
    // 3. cancel the rest (kills ffmpeg); their handlers release the messages at once
    for (const job of this.inFlight.values()) job.stop(JobStop.shutdown('worker'));
    await all();
    // 4. stop renewing, report
    await this.renewer.close();
    this.emit('closed');
  }

  /**
   * Background failures become `error` events (or log lines when nobody listens), never crashes.
   * With `outageAware`, a storage outage is reported once, as `storageDown`, not at every poll,
   * renewal or retry while it lasts.
   */
  private reportError(error: unknown, outageAware = false): void {
    if (outageAware && isStorageOutage(error)) {
      this.setStorageDown(true, error);
      return;
    }
    if (this.listenerCount('error') > 0) this.emit('error', error);
    else this.opts.job.logger.warn({ err: error }, 'worker background failure');
  }

  private setStorageDown(down: boolean, error?: unknown): void {
    if (down === this.storageDown) return;
    this.storageDown = down;
    if (down) this.emit('storageDown', true, error);
    else this.emit('storageDown', false);
  }

  private async receiveLoop(): Promise<void> {
    const stop = this.stopReceiving.signal;
    let failures = 0;
    while (!stop.aborted) {
      const free = this.opts.concurrency - this.inFlight.size;
      if (free <= 0) {
        await new Promise<void>((resolve) => (this.slotFreed = resolve));
        this.slotFreed = undefined;
        continue;
      }
      let messages: QueueMessage[];
      try {
        messages = await this.opts.queue.receive(free, this.opts.visibilityTimeoutSeconds, { signal: stop });
        failures = 0;
        this.setStorageDown(false);
      } catch (error) {
        if (stop.aborted) break;
        // A storage outage never ends the loop: back off and try again.
        failures++;
        this.reportError(error, true);
        const backoff = Math.min(this.opts.maxBackoffMs ?? 10_000, 500 * 2 ** Math.min(failures, 10));
        await sleep(backoff, stop);
        continue;
      }
      if (messages.length === 0) {
        if (this.inFlight.size === 0) this.emit('idle');
        await sleep(this.opts.pollIntervalMs, stop);
        continue;
      }
      for (const message of messages) {
        if (stop.aborted) {
          // Taken after close() began: give it straight back.
          await this.opts.queue.setVisibility(message.id, message.popReceipt, 0).catch(() => undefined);
          continue;
        }
        void this.runJob(message);
      }
    }
  }

  private runJob(message: QueueMessage, onDecision?: (d: Decision) => void): Promise<void> {
    // A timeout is transient (docs/contract.md section 7): retried with backoff up to the delivery limit.
    const job = jobController(this.opts.jobTimeoutMs);
    const tracked = this.renewer.track(message.id, message.popReceipt);
    const info: JobInfo = {};
    const jobMessage = { id: message.id, text: message.text, dequeueCount: message.dequeueCount };
    const base = (): JobEventBase => ({
      messageId: message.id,
      jobId: info.jobId,
      video: info.video,
      attempt: message.dequeueCount,
    });
    const done = (async () => {
      this.emit('started', base());
      const decision = await handleMessage(jobMessage, this.opts.job, {
        signal: job.signal,
        info,
        onProgress: (p) => this.emit('progress', { ...base(), phase: p.phase, fraction: p.fraction }),
        onBytesRead: (n) => this.emit('bytesRead', n),
      });
      job.dispose();
      const popReceipt = (await this.renewer.untrack(message.id)) ?? tracked.popReceipt;
      onDecision?.(decision);
      const q = this.opts.queue;
      await carryOut(decision, {
        message: jobMessage,
        info,
        finish: () => q.delete(message.id, popReceipt),
        // Hidden for the delay, then redelivered with a higher dequeue count.
        redeliver: async (delayMs) => {
          await q.setVisibility(message.id, popReceipt, Math.ceil(delayMs / 1000));
        },
        queue: q,
        poison: this.opts.poison,
        settled: (event, ...args) => this.emit<keyof SettledEvents>(event, ...args),
        onError: (error) => this.reportError(error, true),
      });
    })()
      .catch((error: unknown) => {
        // carryOut failed (storage down): the message reappears after its visibility timeout.
        if (isStorageOutage(error)) {
          this.opts.job.logger.warn(
            { messageId: message.id, jobId: info.jobId, video: info.video, code: 'E_STORAGE_UNAVAILABLE' },
            'storage unreachable: the message will reappear after its visibility timeout',
          );
        }
        this.reportError(error, true);
      })
      .finally(() => {
        job.dispose();
        void this.renewer.untrack(message.id);
        this.inFlight.delete(message.id);
        this.slotFreed?.();
      });
    this.inFlight.set(message.id, { message, stop: job.stop, done });
    return done;
  }
}
