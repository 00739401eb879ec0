import type { Settings } from '../config.js';
import type { Storage } from '../adapters/storage.js';
import type { Limits } from '../engine/options.js';
import type { GenerateRequest, Manifest } from '../engine/types.js';
import type { Logger } from '../logger.js';
import { engineLimitsFrom } from './limits.js';
import type { JobDeps } from './types.js';

/** The job handler's dependencies from settings: shared by the Worker and the Functions host. */
export function jobDepsFrom(
  settings: Settings,
  storage: Storage,
  logger: Logger,
  generate: (request: GenerateRequest) => Promise<Manifest>,
  /** Overrides of the limits the settings give (tests). */
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
    // Every host derives the engine's limits from the settings the same way.
    limits: { ...engineLimitsFrom(settings), ...limits },
    claimTtlMs: settings.worker.visibilityTimeoutSeconds * 1000,
    maxDeliveries: settings.worker.maxDeliveries,
    retryBaseMs: settings.worker.retryBaseMs,
    retryMaxMs: settings.worker.retryMaxMs,
  };
}
