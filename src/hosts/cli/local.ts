import { join } from 'node:path';
import type { Settings } from '../../config.js';
import { DEFAULT_EMULATOR_PORTS } from '../../config.js';
import type { Emulator } from '../../adapters/emulator.js';
import { engineLimitsFrom } from '../../jobs/limits.js';
import { createLogger } from '../../logger.js';
import { runtimeMetrics } from './health.js';
import { createRuntimeWithRetry, logWorkerEvents } from '../worker/process.js';
import type { WorkerRuntime } from '../worker/runtime.js';

export interface LocalServiceOptions {
  inMemory?: boolean;
  /** Where emulator data lives (default `.thumbnailer/azurite` under the working folder). */
  dataDir?: string;
  /** Stops the service (signals by default). */
  signal?: AbortSignal;
  /** Banner lines (stdout by default). */
  print?: (line: string) => void;
}

type Print = (line: string) => void;

/**
 * The embedded emulator, unless storage is configured: returns the settings pointing at it and
 * the emulator to stop at the end.
 */
async function localStorage(
  settings: Settings,
  options: LocalServiceOptions,
  print: Print,
): Promise<{ settings: Settings; emulator?: Emulator }> {
  if (settings.storage) return { settings };
  const { startEmulator } = await import('../../adapters/emulator.js');
  const location = options.dataDir ?? join(process.cwd(), '.thumbnailer', 'azurite');
  const emulator = await startEmulator({
    ports: DEFAULT_EMULATOR_PORTS,
    inMemory: options.inMemory,
    location,
  });
  print(
    `Storage emulator (Azurite) on 127.0.0.1: blob ${emulator.ports.blob}, queue ${emulator.ports.queue}, table ${emulator.ports.table}; ` +
      (options.inMemory ? 'data in memory' : `data in ${location}`),
  );
  print('SDKs and Storage Explorer: UseDevelopmentStorage=true. Full connection string (Azure CLI):');
  print(`  AzureWebJobsStorage="${emulator.connectionString}"`);
  return {
    settings: {
      ...settings,
      storage: { kind: 'connectionString', connectionString: emulator.connectionString },
    },
    emulator,
  };
}

/** The HTTP app (API, dashboard, health, metrics) over the worker's storage, listening. */
async function serveApi(settings: Settings, runtime: WorkerRuntime) {
  const { worker, storage } = runtime;
  const metrics = runtimeMetrics(runtime);
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
  return { app, address };
}

/** Aborted on SIGINT, SIGTERM or the caller's signal; `dispose` removes the listeners. */
function stopSignal(signal?: AbortSignal): { signal: AbortSignal; dispose: () => void } {
  const stopping = new AbortController();
  const onSignal = () => stopping.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  signal?.addEventListener('abort', onSignal, { once: true });
  return {
    signal: stopping.signal,
    dispose: () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      signal?.removeEventListener('abort', onSignal);
    },
  };
}

const aborted = (signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal.aborted) resolve();
    signal.addEventListener('abort', () => resolve(), { once: true });
  });

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
  const stopping = stopSignal(options.signal);
  let emulator: Emulator | undefined;
  try {
    const { checkOpenBinding } = await import('../http/exposure.js');
    checkOpenBinding(settings);
    const local = await localStorage(settings, options, print);
    settings = local.settings;
    emulator = local.emulator;
    const runtime = await createRuntimeWithRetry(settings, logger, stopping.signal);
    if (!runtime) return 0;
    logWorkerEvents(runtime.worker, logger);
    const { app, address } = await serveApi(settings, runtime);
    runtime.worker.start();
    print(
      `Worker on queue ${settings.queueName} (concurrency ${settings.worker.concurrency}); outputs in container ${settings.thumbnailContainer}`,
    );
    print(
      `HTTP on ${address}: dashboard at /, API under /api (OpenAPI: /api/openapi.json), /healthz /readyz /metrics`,
    );
    print('Try: thumbnailer submit video.mp4 --wait   (Ctrl+C stops)');

    await aborted(stopping.signal);
    print('Stopping: finishing or releasing jobs in hand...');
    await runtime.worker.close();
    await app.close();
    return 0;
  } finally {
    await emulator?.stop();
    stopping.dispose();
  }
}
