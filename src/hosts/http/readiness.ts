import type { Storage } from '../../adapters/storage.js';
import { resolveBinaries } from '../../engine/binaries.js';
import type { Check } from './app.js';

/** Ready when storage answers within 3 s and ffmpeg and ffprobe are found. */
export function readinessChecks(storage: Pick<Storage, 'ping'>): () => Promise<Record<string, Check>> {
  return async () => {
    const checks: Record<string, Check> = {};
    try {
      await storage.ping(AbortSignal.timeout(3000));
      checks.storage = { ok: true };
    } catch (error) {
      checks.storage = { ok: false, detail: error instanceof Error ? error.message : String(error) };
    }
    try {
      const b = resolveBinaries();
      checks.ffmpeg = { ok: true, detail: `${b.ffmpeg} (${b.source})` };
    } catch (error) {
      checks.ffmpeg = { ok: false, detail: error instanceof Error ? error.message : String(error) };
    }
    return checks;
  };
}
