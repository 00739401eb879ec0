import { join } from 'node:path';
import type { Settings } from '../../config.js';
import { DEFAULT_EMULATOR_PORTS } from '../../config.js';
import type { Emulator } from '../../adapters/emulator.js';
import { engineLimitsFrom } from '../../limits.js';
import { createLogger } from './logger.js';
import { createMetrics } from './metrics.js';
import { createRuntimeWithRetry, logWorkerEvents } from './process.js';

export interface LocalServiceOptions {
  inMemory?: boolean;
  /** Where emulator data lives (default `.thumbnailer/azurite` under the working folder). */
  dataDir?: string;
  /** Stops the service (signals by default). */
  signal?: AbortSignal;
  /** Banner lines (stdout by default). */
  print?: (line: string) => void;
}

/**
 * `thumbnailer start`: the embedded emulator (unless storage is configured), the worker and the
 * HTTP server, until SIGINT/SIGTERM; then closes in reverse order. Returns the exit code.
 */
export async function runLocalService(
  settings: Settings,
  options: LocalServiceOptions = {},
): Promise<number> {
  const print = options.print ?? ((line: string) => process.stdout.write(line + '\n'));
  const logger = createLogger({ level: settings.logLevel, base: { role: 'start', pid: process.pid } });
  const stopping = new AbortController();
  const onSignal = () => stopping.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  options.signal?.addEventListener('abort', onSignal, { once: true });

  let emulator: Emulator | undefined;
  try {
    const { checkOpenBinding } = await import('../http/exposure.js');
    checkOpenBinding(settings);
    if (!settings.storage) {
      const { startEmulator } = await import('../../adapters/emulator.js');
      const location = options.dataDir ?? join(process.cwd(), '.thumbnailer', 'azurite');
      emulator = await startEmulator({ ports: DEFAULT_EMULATOR_PORTS, inMemory: options.inMemory, location });
      settings = {
        ...settings,
        storage: { kind: 'connectionString', connectionString: emulator.connectionString },
      };
      print(
        `Storage emulator (Azurite) on 127.0.0.1: blob ${emulator.ports.blob}, queue ${emulator.ports.queue}, table ${emulator.ports.table}; ` +
          (options.inMemory ? 'data in memory' : `data in ${location}`),
      );
      print('SDKs and Storage Explorer: UseDevelopmentStorage=true. Full connection string (Azure CLI):');
      print(`  AzureWebJobsStorage="${emulator.connectionString}"`);
    }
    const runtime = await createRuntimeWithRetry(settings, logger, stopping.signal);
    if (!runtime) return 0;
    const { worker, storage } = runtime;
    logWorkerEvents(worker, logger);
    const metrics = createMetrics({
      worker,
      queueDepth: async () => ({ queue: await storage.queue.depth(), poison: await storage.poison.depth() }),
    });
    const [{ buildApp }, { listen }, { readinessChecks }] = await Promise.all([
      import('../http/app.js'),
      import('../http/server.js'),
      import('../http/readiness.js'),
    ]);
    const app = buildApp({
      registry: metrics.registry,
      readiness: readinessChecks(storage),
      api: {
        storage,
        apiToken: settings.apiToken,
        host: settings.host,
        allowOpen: settings.allowOpen,
        maxUploadBytes: settings.maxUploadBytes,
        tempDir: settings.worker.tempDir,
        limits: engineLimitsFrom(settings),
        worker,
        onBytesRead: (n) => metrics.bytesRead.inc(n),
      },
    });
    const address = await listen(app, { host: settings.host, port: settings.port });
    worker.start();
    print(
      `Worker on queue ${settings.queueName} (concurrency ${settings.worker.concurrency}); outputs in container ${settings.thumbnailContainer}`,
    );
    print(
      `HTTP on ${address}: dashboard at /, API under /api (OpenAPI: /api/openapi.json), /healthz /readyz /metrics`,
    );
    print('Try: thumbnailer submit video.mp4 --wait   (Ctrl+C stops)');

    await new Promise<void>((resolve) => {
      if (stopping.signal.aborted) resolve();
      stopping.signal.addEventListener('abort', () => resolve(), { once: true });
    });
    print('Stopping: finishing or releasing jobs in hand...');
    await worker.close();
    await app.close();
    return 0;
  } finally {
    await emulator?.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
