import type { Settings } from '../config.js';
import { DEFAULT_LIMITS, type Limits } from '../engine/options.js';

/**
 * The engine's limits from the settings: the one derivation every host uses (CLI `generate`, the
 * worker, the Functions host, the API's on-demand frames), so a setting means the same everywhere.
 * Unset settings keep the engine's defaults; a value is passed through as given, above or below.
 */
export function engineLimitsFrom(settings: Settings): Limits {
  const w = settings.worker;
  return {
    ...DEFAULT_LIMITS,
    maxInputBytes: w.maxInputBytes ?? DEFAULT_LIMITS.maxInputBytes,
    maxDurationSeconds: w.maxDurationSeconds ?? DEFAULT_LIMITS.maxDurationSeconds,
    maxPixels: w.maxPixels ?? DEFAULT_LIMITS.maxPixels,
    ffmpegTimeoutMs: w.ffmpegTimeoutMs ?? DEFAULT_LIMITS.ffmpegTimeoutMs,
    ffmpegStallTimeoutMs: w.ffmpegStallTimeoutMs ?? DEFAULT_LIMITS.ffmpegStallTimeoutMs,
    jobTimeoutMs: w.jobTimeoutMs,
    maxTempBytes: w.maxTempBytes ?? DEFAULT_LIMITS.maxTempBytes,
    ffmpegThreads: w.ffmpegThreads ?? DEFAULT_LIMITS.ffmpegThreads,
  };
}
