import type { Settings } from '../config.js';
import type { Storage } from '../adapters/storage.js';
import type { Limits } from '../engine/options.js';
import type { GenerateRequest, Manifest } from '../engine/types.js';
import type { Logger } from '../logger.js';
import type { JobDeps } from './types.js';

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

/** The engine limits the settings override (THUMBNAILER_FFMPEG_TIMEOUT_MS, THUMBNAILER_FFMPEG_STALL_MS). */
export function limitsFrom(settings: Settings): Partial<Limits> | undefined {
  const limits: Partial<Limits> = {};
  if (settings.worker.ffmpegTimeoutMs !== undefined) limits.ffmpegTimeoutMs = settings.worker.ffmpegTimeoutMs;
  if (settings.worker.ffmpegStallTimeoutMs !== undefined)
    limits.ffmpegStallTimeoutMs = settings.worker.ffmpegStallTimeoutMs;
  return Object.keys(limits).length > 0 ? limits : undefined;
}
