import { statfs } from 'node:fs/promises';
import { ThumbnailerError } from '../errors.js';

/**
 * Temporary disk of the remux and transcode routes (the index route needs next to none): a local
 * copy of a remote input, the Matroska proxy, then the outputs. A stream copy is at most the input;
 * the H.264 proxy (ultrafast, CRF 12) of an MPEG-2 or similar input runs to a few times its size.
 */
const PROXY_FACTOR = { remux: 1, transcode: 3 } as const;
/** Staged outputs, the probe sample and frame selections. */
const OUTPUT_ALLOWANCE = 64 * 1024 ** 2;

export type ProxyRoute = keyof typeof PROXY_FACTOR;

/** The temporary bytes one job may need on this route for an input of `inputBytes`. */
export function tempBytesNeeded(inputBytes: number, route: ProxyRoute, inputIsLocal: boolean): number {
  return (inputIsLocal ? 0 : inputBytes) + Math.ceil(inputBytes * PROXY_FACTOR[route]) + OUTPUT_ALLOWANCE;
}

function readable(bytes: number): string {
  if (bytes >= 1024 ** 3) return `${(bytes / 1024 ** 3).toFixed(1)} GiB`;
  return `${Math.ceil(bytes / 1024 ** 2)} MiB`;
}

/**
 * Checked before the route starts, so a job that cannot fit fails at once with a clear error
 * instead of filling the disk (and, in Kubernetes, getting the pod evicted with every job on it):
 * over the per-job limit is permanent (E_LIMIT_EXCEEDED); more than the disk has free now is
 * transient (E_TEMP_DISK_FULL: other jobs may finish and free theirs, so the message is retried).
 */
export async function checkTempDisk(
  dir: string,
  needed: number,
  maxTempBytes: number,
  route: ProxyRoute,
  /** What is still to be written (less than `needed` when part of it is on disk already). */
  toWrite = needed,
): Promise<void> {
  if (needed > maxTempBytes) {
    throw new ThumbnailerError(
      'E_LIMIT_EXCEEDED',
      `The ${route} route needs about ${readable(needed)} of temporary disk for this input, over the limit of ${readable(maxTempBytes)} a job (THUMBNAILER_MAX_TEMP_BYTES).`,
    );
  }
  let free: number;
  try {
    const stats = await statfs(dir);
    free = stats.bavail * stats.bsize;
  } catch {
    return; // No figure to go by (an unusual filesystem): the write itself will say.
  }
  if (toWrite > free) {
    throw new ThumbnailerError(
      'E_TEMP_DISK_FULL',
      `The ${route} route needs about ${readable(toWrite)} more temporary disk, and only ${readable(free)} is free; retried when others have finished.`,
    );
  }
}
