import type { Settings } from '../../config.js';
import type { Storage } from '../../adapters/storage.js';
import { createStorage } from '../../adapters/storage.js';
import type { GenerateRequest, Manifest } from '../../engine/types.js';
import type { Limits } from '../../engine/options.js';
import { completionEventsFrom } from '../../jobs/events/publisher.js';
import { jobDepsFrom } from '../../jobs/deps.js';
import { sweepStaleJobFolders } from '../../jobs/temp.js';
import type { JobDeps } from '../../jobs/types.js';
import type { Logger } from '../../logger.js';
import { Worker } from './worker.js';

export interface WorkerRuntimeOptions {
  logger: Logger;
  /** Existing adapters (tests, `start`); built from the settings otherwise. */
  storage?: Storage;
  /** The engine; `generate` from src/engine by default. */
  generate?: (request: GenerateRequest) => Promise<Manifest>;
  limits?: Partial<Limits>;
  /** Create containers, queues and table when missing (default true). */
  ensure?: boolean;
}

export interface WorkerRuntime {
  storage: Storage;
  worker: Worker;
  jobDeps: JobDeps;
}

/** Storage adapters, job handler and Worker, wired from the settings. */
export async function createWorkerRuntime(
  settings: Settings,
  options: WorkerRuntimeOptions,
): Promise<WorkerRuntime> {
  const storage = options.storage ?? (await createStorage(settings));
  if (options.ensure !== false) await storage.ensure();
  const generate = options.generate ?? (await import('../../engine/generate.js')).generate;
  const jobDeps = jobDepsFrom(settings, storage, options.logger, generate, options.limits);
  jobDeps.events = completionEventsFrom(settings, storage);
  // Job folders of a worker that was killed before it could clean up (same TMPDIR after a restart).
  const swept = await sweepStaleJobFolders(settings.worker.tempDir);
  if (swept.length > 0)
    options.logger.info({ folders: swept.length }, 'removed temporary folders left by a stopped worker');
  const worker = new Worker({
    queue: storage.queue,
    poison: storage.poison,
    job: jobDeps,
    concurrency: settings.worker.concurrency,
    visibilityTimeoutSeconds: settings.worker.visibilityTimeoutSeconds,
    pollIntervalMs: settings.worker.pollIntervalMs,
    shutdownGraceMs: settings.worker.shutdownGraceMs,
    jobTimeoutMs: settings.worker.jobTimeoutMs,
  });
  return { storage, worker, jobDeps };
}
