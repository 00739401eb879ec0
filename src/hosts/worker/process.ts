import type { Settings } from '../../config.js';
import { ThumbnailerError } from '../../errors.js';
import { settledLog } from '../../jobs/carry-out.js';
import type { Logger } from '../../logger.js';
import { createLogger } from '../../logger.js';
import { createWorkerRuntime, type WorkerRuntime } from './runtime.js';
import type { Worker } from './worker.js';

export interface RunWorkerOptions {
  once?: boolean;
  onceWaitMs?: number;
  logger?: Logger;
  /** Resolves when the process should stop (signals by default). */
  signal?: AbortSignal;
  /**
   * Serves /healthz, /readyz and /metrics for the running worker (the CLI wires the HTTP host in);
   * none when absent.
   */
  serveHealth?: (runtime: WorkerRuntime, logger: Logger) => Promise<{ close(): Promise<void> } | undefined>;
}

/** Log lines for the worker's events that the job handler does not already write. */
export function logWorkerEvents(worker: Worker, logger: Logger): void {
  // What became of each message: the same lines as the Functions host's.
  const settled = settledLog(logger);
  worker.on('completed', settled.completed);
  worker.on('failed', settled.failed);
  worker.on('poisoned', settled.poisoned);
  worker.on('released', settled.released);
  worker.on('deferred', settled.deferred);
  // Once per outage, with the failure that showed it; not once per poll.
  worker.on('storageDown', (down, error) =>
    down
      ? logger.error({ err: error }, 'storage is unreachable; backing off')
      : logger.info('storage is reachable again'),
  );
  worker.on('error', (error) => logger.warn({ err: error }, 'worker background failure'));
}

/** Creates the runtime, retrying while storage is unreachable (an outage must not end the worker). */
export async function createRuntimeWithRetry(
  settings: Settings,
  logger: Logger,
  signal?: AbortSignal,
): Promise<WorkerRuntime | undefined> {
  let delay = 500;
  for (;;) {
    try {
      return await createWorkerRuntime(settings, { logger });
    } catch (error) {
      if (!ThumbnailerError.is(error) || error.code !== 'E_STORAGE_UNAVAILABLE' || !settings.storage)
        throw error;
      logger.error({ err: error, retryInMs: delay }, 'storage is unreachable at start-up; retrying');
      await new Promise((r) => setTimeout(r, delay));
      if (signal?.aborted) return undefined;
      delay = Math.min(30_000, delay * 2);
    }
  }
}

/**
 * `thumbnailer worker`: runs until SIGTERM/SIGINT (then closes gracefully) or, with `once`, for
 * one message. Returns the process exit code.
 */
export async function runWorker(settings: Settings, options: RunWorkerOptions = {}): Promise<number> {
  if (!settings.storage) {
    throw new ThumbnailerError(
      'E_STORAGE_UNAVAILABLE',
      'No storage is configured: set AzureWebJobsStorage (or AzureWebJobsStorage__accountName), or use `thumbnailer start` for the embedded emulator',
    );
  }
  const logger =
    options.logger ?? createLogger({ level: settings.logLevel, base: { role: 'worker', pid: process.pid } });
  const stopping = new AbortController();
  const onSignal = (name: NodeJS.Signals) => {
    logger.info({ signal: name }, 'stopping: no new messages; finishing or releasing jobs in hand');
    stopping.abort();
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  options.signal?.addEventListener('abort', () => stopping.abort(), { once: true });
  try {
    const runtime = await createRuntimeWithRetry(settings, logger, stopping.signal);
    if (!runtime) return 0;
    const { worker } = runtime;
    logWorkerEvents(worker, logger);
    const closed = new Promise<void>((resolve) => worker.once('closed', resolve));
    if (stopping.signal.aborted) void worker.close();
    stopping.signal.addEventListener('abort', () => void worker.close(), { once: true });
    if (options.once) {
      // One message, then exit: a ScaledJob's pod needs no probes.
      const decision = await worker.runOnce(options.onceWaitMs ?? 30_000);
      if (!decision) logger.info('no message arrived; exiting');
      await worker.close();
      return decision && decision.action !== 'ack' && decision.action !== 'poison' ? 1 : 0;
    }
    logger.info(
      {
        queue: settings.queueName,
        concurrency: settings.worker.concurrency,
        account: runtime.storage.accountName,
      },
      'worker started',
    );
    const health = await options.serveHealth?.(runtime, logger);
    worker.start();
    await closed;
    await health?.close();
    logger.info('worker stopped');
    return 0;
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
}
