import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmulator, type Emulator } from '../../src/adapters/emulator.js';

export interface TestAzurite extends Emulator {
  /** Data folder when started with `persist`; removed by stop(). */
  location?: string;
}

/**
 * Starts Azurite for one test file on free loopback ports, in memory unless `persist` (then in a
 * temporary `--location`, removed on stop). Retries when a port picked as free was taken meanwhile
 * by a concurrently starting test.
 */
export async function startAzurite(options: { persist?: boolean } = {}): Promise<TestAzurite> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 4; attempt++) {
    const location = options.persist ? await mkdtemp(join(tmpdir(), 'thumbnailer-azurite-')) : undefined;
    try {
      const emulator = await startEmulator({
        ports: 'free',
        inMemory: !location,
        location,
        startTimeoutMs: 20_000,
      });
      return {
        ...emulator,
        location,
        stop: async () => {
          await emulator.stop();
          if (location) await rm(location, { recursive: true, force: true });
        },
      };
    } catch (error) {
      lastError = error;
      if (location) await rm(location, { recursive: true, force: true });
    }
  }
  throw lastError;
}
