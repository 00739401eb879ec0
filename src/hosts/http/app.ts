import Fastify, { type FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import { ThumbnailerError, asThumbnailerError } from '../../errors.js';

export interface Check {
  ok: boolean;
  detail?: string;
}

export interface AppDeps {
  /** Prometheus registry served at /metrics. */
  registry: Registry;
  /** Readiness checks by name (storage reachable, ffmpeg present...). */
  readiness: () => Promise<Record<string, Check>>;
  /** Fastify's logger; off by default. */
  logger?: boolean | object;
}

/**
 * The HTTP app as a value: routes registered, not listening (server.ts listens; tests inject).
 * Health and metrics now; the API and dashboard of PRODUCT.md section 6 join here later.
 */
export function buildApp(deps: AppDeps): FastifyInstance {
  const app = Fastify({ logger: deps.logger ?? false, bodyLimit: 1024 * 1024 });

  app.setErrorHandler((error, _request, reply) => {
    const e = ThumbnailerError.is(error) ? error : asThumbnailerError(error);
    const status = (error as { statusCode?: number }).statusCode ?? e.status;
    // Only 4xx messages reach clients; 5xx say what failed without internals.
    const message = status < 500 ? e.message : 'Internal error';
    void reply.status(status).send({ error: { code: e.code, message } });
  });
  app.setNotFoundHandler((request, reply) => {
    void reply.status(404).send({
      error: { code: 'E_NOT_FOUND', message: `No route ${request.method} ${request.url.split('?')[0]}` },
    });
  });

  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (_request, reply) => {
    const checks = await deps.readiness();
    const ready = Object.values(checks).every((c) => c.ok);
    return reply.status(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready', checks });
  });

  app.get('/metrics', async (_request, reply) => {
    const body = await deps.registry.metrics();
    return reply.header('content-type', deps.registry.contentType).send(body);
  });

  return app;
}
