import type { Settings } from '../../config.js';
import type { Logger } from '../../logger.js';
import { createMetrics } from '../worker/metrics.js';
import type { WorkerRuntime } from '../worker/runtime.js';

/**
 * `/healthz`, `/readyz` and `/metrics` for a worker on its own (the probes of a Kubernetes pod or an
 * image HEALTHCHECK). A port already taken is reported and the worker goes on without them: a
 * health server must never be the reason jobs stop.
 */
/** The Prometheus metrics of a worker runtime: jobs, queue depths, completion events. */
export function runtimeMetrics(runtime: WorkerRuntime) {
  const { worker, storage } = runtime;
  return createMetrics({
    worker,
    queueDepth: async () => ({ queue: await storage.queue.depth(), poison: await storage.poison.depth() }),
    events: runtime.jobDeps.events,
  });
}

export async function startHealthServer(
  runtime: WorkerRuntime,
  settings: Pick<Settings, 'host' | 'port'>,
  logger: Logger,
): Promise<{ close(): Promise<void> } | undefined> {
  const { storage } = runtime;
  const metrics = runtimeMetrics(runtime);
  const [{ buildApp }, { listen }, { readinessChecks }] = await Promise.all([
    import('../http/app.js'),
    import('../http/server.js'),
    import('../http/readiness.js'),
  ]);
  const app = buildApp({ registry: metrics.registry, readiness: readinessChecks(storage) });
  try {
    const address = await listen(app, { host: settings.host, port: settings.port });
    logger.info({ address }, 'health and metrics served: /healthz /readyz /metrics');
    return { close: () => app.close() };
  } catch (error) {
    logger.warn(
      { err: error, port: settings.port },
      'health server not started; the worker goes on without it',
    );
    await app.close();
    return undefined;
  }
}
