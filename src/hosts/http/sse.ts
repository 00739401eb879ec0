import type { ServerResponse } from 'node:http';
import type { JobRecord } from '../../adapters/jobs.js';
import type { Worker } from '../worker/worker.js';
import { DATA_CSP } from './content-types.js';

export interface JobStreamOptions {
  /** Reads the job's record (the table). */
  get: (id: string) => Promise<JobRecord | undefined>;
  /** An in-process worker, for progress between table writes. */
  worker?: Pick<Worker, 'on' | 'off'>;
  /** How often the table is read (default 500 ms). */
  pollMs?: number;
  /** Comment lines keeping proxies from closing an idle stream (default 15 s). */
  heartbeatMs?: number;
  /** Ends the stream (app closing). */
  signal?: AbortSignal;
  /**
   * The stream ends after this long even if the job has not (default 5 min): the client reconnects
   * (EventSource does, after `retry`) with Last-Event-ID and gets the current state at once.
   */
  lifetimeMs?: number;
  /** The `Last-Event-ID` header of a reconnection: ids go on counting from it. */
  lastEventId?: string | string[];
}

/** The id a reconnected stream counts on from (ids are small positive whole numbers). */
function resumedSeq(header: string | string[] | undefined): number {
  const value = Array.isArray(header) ? header[0] : header;
  if (!value || !/^\d{1,9}$/.test(value.trim())) return 0;
  return Number(value.trim());
}

const terminal = (job: JobRecord) => job.status === 'done' || job.status === 'failed';

/**
 * Server-sent events for one job until it ends: `progress` events (every change of status,
 * attempt, phase or progress, never going back within an attempt), then one `done` or `failed`
 * event with the final record, then the stream closes. Event ids count up from 1 (from
 * Last-Event-ID + 1 on a reconnection). A stream past its lifetime closes without an end event.
 */
export async function streamJobEvents(
  res: ServerResponse,
  first: JobRecord,
  options: JobStreamOptions,
): Promise<void> {
  const pollMs = options.pollMs ?? 500;
  let seq = resumedSeq(options.lastEventId);
  let last: JobRecord | undefined;
  let ended = false;
  let kick: (() => void) | undefined;

  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
    'x-content-type-options': 'nosniff',
    'content-security-policy': DATA_CSP,
  });
  res.write('retry: 3000\n\n');

  const end = () => {
    if (ended) return;
    ended = true;
    kick?.();
    if (!res.writableEnded) res.end();
  };

  const emit = (job: JobRecord) => {
    if (ended) return;
    if (last && !terminal(job)) {
      // A table read that raced a newer in-process event is older news: skip it.
      if (job.attempts < last.attempts) return;
      if (job.attempts === last.attempts) {
        if (job.status === last.status) {
          const forward =
            job.progress > last.progress || (job.progress === last.progress && job.phase !== last.phase);
          if (!forward) return;
        } else if (job.status === 'queued' && last.status === 'running' && !job.error) return;
      }
    }
    last = job;
    seq += 1;
    const event = terminal(job) ? job.status : 'progress';
    res.write(`id: ${seq}\nevent: ${event}\ndata: ${JSON.stringify(job)}\n\n`);
    if (terminal(job)) end();
  };

  const onProgress = (e: { jobId?: string; attempt: number; fraction: number; phase: string }) => {
    if (e.jobId !== first.id || !last || terminal(last)) return;
    emit({
      ...last,
      status: 'running',
      attempts: e.attempt,
      progress: Math.min(0.99, Math.round(e.fraction * 1000) / 1000),
      phase: e.phase,
    });
  };
  const onSettled = (e: { jobId?: string }) => {
    if (e.jobId === first.id) kick?.();
  };
  options.worker?.on('progress', onProgress);
  options.worker?.on('completed', onSettled);
  options.worker?.on('failed', onSettled);
  options.worker?.on('poisoned', onSettled);
  const heartbeat = setInterval(() => {
    if (!ended) res.write(': keep-alive\n\n');
  }, options.heartbeatMs ?? 15_000);
  res.on('close', end);
  options.signal?.addEventListener('abort', end, { once: true });
  // A bounded lifetime: no stream holds its place (and a table poll) forever.
  const lifetime = setTimeout(end, options.lifetimeMs ?? 5 * 60_000);

  try {
    emit(first);
    while (!ended) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, pollMs);
        function done() {
          clearTimeout(timer);
          kick = undefined;
          resolve();
        }
        kick = done;
      });
      if (ended) break;
      // A storage blip skips a beat; the stream goes on.
      const job = await options.get(first.id).catch(() => undefined);
      if (job) emit(job);
    }
  } finally {
    clearInterval(heartbeat);
    clearTimeout(lifetime);
    options.worker?.off('progress', onProgress);
    options.worker?.off('completed', onSettled);
    options.worker?.off('failed', onSettled);
    options.worker?.off('poisoned', onSettled);
    options.signal?.removeEventListener('abort', end);
    end();
  }
}
