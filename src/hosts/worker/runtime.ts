import type { Settings } from '../../config.js';
import type { Storage } from '../../adapters/storage.js';
import { createStorage } from '../../adapters/storage.js';
import type { GenerateRequest, Manifest } from '../../engine/types.js';
import type { Limits } from '../../engine/options.js';
import type { JobDeps } from './job.js';
import { sweepStaleTempFolders } from '../../engine/temp.js';
import type { Logger } from './logger.js';
import { Worker } from './worker.js';
import { engineLimitsFrom } from '../../limits.js';

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

/** The job handler's dependencies from settings: shared by the Worker and the Functions host. */
export function jobDepsFrom(
  settings: Settings,
  storage: Storage,
  logger: Logger,
  generate: (request: GenerateRequest) => Promise<Manifest>,
  limits?: Partial<Limits>,
): JobDeps {
  return {
    blobs: storage.blobs,
    jobs: storage.jobs,
    accountName: storage.accountName,
    videoContainer: settings.videoContainer,
    thumbnailContainer: settings.thumbnailContainer,
    generate,
    logger,
    tempDir: settings.worker.tempDir,
    defaultOptions: settings.layout ? { layout: settings.layout } : undefined,
    limits,
    claimTtlMs: settings.worker.visibilityTimeoutSeconds * 1000,
    maxDeliveries: settings.worker.maxDeliveries,
    retryBaseMs: settings.worker.retryBaseMs,
    retryMaxMs: settings.worker.retryMaxMs,
  };
}

/** Storage adapters, job handler and Worker, wired from the settings. */
export async function createWorkerRuntime(
  settings: Settings,
  options: WorkerRuntimeOptions,
): Promise<WorkerRuntime> {
  const storage = options.storage ?? (await createStorage(settings));
  if (options.ensure !== false) await storage.ensure();
  const generate = options.generate ?? (await import('../../engine/generate.js')).generate;
  const jobDeps = jobDepsFrom(settings, storage, options.logger, generate, {
    ...engineLimitsFrom(settings),
    ...options.limits,
  });
  // Temporary folders of processes killed before they could clean up (same TMPDIR after a restart).
  const swept = await sweepStaleTempFolders(settings.worker.tempDir);
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
