import AjvCompiler from '@fastify/ajv-compiler';
import swagger from '@fastify/swagger';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyInstance, type FastifySchemaCompiler } from 'fastify';
import type { Registry } from 'prom-client';
import type { Storage } from '../../adapters/storage.js';
import { ThumbnailerError, errorBody } from '../../errors.js';
import { FrameService } from '../../engine/frames.js';
import type { JobEventSource } from '../../jobs/types.js';
import type { Limits } from '../../engine/options.js';
import { bearerAuth } from './auth.js';
import { Gate } from './bounds.js';
import type { ApiContext } from './context.js';
import { dashboard } from './dashboard.js';
import { errorHandler } from './errors.js';
import { DATA_CSP } from './content-types.js';
import { checkOpenBinding, openModeGuard } from './exposure.js';
import { jobRoutes } from './routes/jobs.js';
import { videoRoutes } from './routes/videos.js';

export interface Check {
  ok: boolean;
  detail?: string;
}

/** The API of docs/contract.md section 6 and the dashboard. */
export interface ApiDeps {
  storage: ApiContext['storage'] | Storage;
  /** THUMBNAILER_API_TOKEN: when set, every /api route needs `Authorization: Bearer <token>`. */
  apiToken?: string;
  /**
   * THUMBNAILER_HOST, where the server listens. Without a token, a host beyond loopback is refused
   * unless `allowOpen`, and it is the one name besides the loopback ones a `Host` header may carry.
   */
  host?: string;
  /** THUMBNAILER_ALLOW_OPEN / --allow-open: serve the API without a token beyond loopback on purpose. */
  allowOpen?: boolean;
  /** Memory the frame service's open indexes may hold (default 256 MiB). */
  frameCacheBytes?: number;
  /** Frames made at once; past it 503 with Retry-After (default 4). */
  maxConcurrentFrames?: number;
  /** Open job event streams; past it 503 with Retry-After (default 200). */
  maxEventStreams?: number;
  /** An event stream ends after this long; the client reconnects with Last-Event-ID (default 5 min). */
  eventStreamLifetimeMs?: number;
  /** Largest upload accepted by POST /api/videos (413 past it, nothing stored). */
  maxUploadBytes: number;
  /** On-demand frames; one is made (and closed with the app) when absent. */
  frames?: FrameService;
  /** Temporary folder of the frame service made here. */
  tempDir?: string;
  /** Engine limits of the frame service made here (from the settings, as for jobs). */
  limits?: Partial<Limits>;
  /** An in-process worker: job event streams get its progress between table writes. */
  worker?: JobEventSource;
  /** Table poll interval of job event streams (default 500 ms). */
  eventsPollMs?: number;
  /** Serve the dashboard at / (default true). */
  dashboard?: boolean;
  onBytesRead?: (bytes: number) => void;
}

export interface AppDeps {
  /** Prometheus registry served at /metrics. */
  registry: Registry;
  /** Readiness checks by name (storage reachable, ffmpeg present...). */
  readiness: () => Promise<Record<string, Check>>;
  /** Fastify's logger; off by default. */
  logger?: boolean | object;
  /** The API and dashboard; without it, health and metrics only. */
  api?: ApiDeps;
}

/**
 * The HTTP app as a value: routes registered, not listening (server.ts listens; tests inject).
 * Health and metrics always; with `api`, the API of docs/contract.md section 6, its OpenAPI document at
 * /api/openapi.json, optional bearer-token auth on /api, and the dashboard at /.
 */
export function buildApp(deps: AppDeps): FastifyInstance {
  if (deps.api?.host !== undefined) checkOpenBinding({ ...deps.api, host: deps.api.host });
  const app = Fastify({
    logger: deps.logger ?? false,
    bodyLimit: 1024 * 1024,
  }).withTypeProvider<TypeBoxTypeProvider>();
  app.setValidatorCompiler(validatorCompiler());

  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler((request, reply) => {
    const error = new ThumbnailerError(
      'E_NOT_FOUND',
      `No route ${request.method} ${request.url.split('?')[0]}`,
    );
    void reply.status(error.status).send(errorBody(error));
  });
  app.addHook('onSend', async (_request, reply, payload) => {
    reply.header('x-content-type-options', 'nosniff');
    // The dashboard's pages set their own policy; everything else is data, never a document.
    if (!reply.hasHeader('content-security-policy')) reply.header('content-security-policy', DATA_CSP);
    return payload;
  });

  const api = deps.api;
  const closing = new AbortController();
  // Without a token, only this machine's names, and no page of another origin changing anything.
  if (api && !api.apiToken) app.addHook('onRequest', openModeGuard({ host: api.host }));
  if (api) {
    void app.register(swagger, {
      openapi: {
        openapi: '3.1.0',
        info: {
          title: 'video-thumbnailer',
          description:
            'Thumbnails from videos in Azure Blob Storage: upload, jobs with live progress, outputs, frames on demand.',
          version: '0.1.0',
        },
        tags: [{ name: 'videos' }, { name: 'jobs' }, { name: 'frames' }, { name: 'health' }],
        components: api.apiToken
          ? { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } }
          : undefined,
        security: api.apiToken ? [{ bearer: [] }] : undefined,
      },
    });
  }

  app.get('/healthz', { schema: { tags: ['health'], summary: 'Liveness' } }, async () => ({ status: 'ok' }));

  app.get(
    '/readyz',
    { schema: { tags: ['health'], summary: 'Readiness: storage reachable, ffmpeg present' } },
    async (_request, reply) => {
      const checks = await deps.readiness();
      const ready = Object.values(checks).every((c) => c.ok);
      return reply.status(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready', checks });
    },
  );

  app.get(
    '/metrics',
    { schema: { tags: ['health'], summary: 'Prometheus metrics' } },
    async (_request, reply) => {
      const body = await deps.registry.metrics();
      return reply.header('content-type', deps.registry.contentType).send(body);
    },
  );

  if (api) {
    // Never a download or a transcode in a request: videos the index cannot serve are refused.
    const frames =
      api.frames ??
      new FrameService({
        tempDir: api.tempDir,
        limits: api.limits,
        indexOnly: true,
        maxCacheBytes: api.frameCacheBytes,
      });
    const ctx: ApiContext = {
      storage: api.storage,
      frames,
      maxUploadBytes: api.maxUploadBytes,
      worker: api.worker,
      eventsPollMs: api.eventsPollMs,
      onBytesRead: api.onBytesRead,
      closing: closing.signal,
      frameGate: new Gate(api.maxConcurrentFrames ?? 4, 'frames being made'),
      streamGate: new Gate(api.maxEventStreams ?? 200, 'open event streams', 5),
      eventStreamLifetimeMs: api.eventStreamLifetimeMs ?? 5 * 60_000,
    };
    // Every /api route lives in this one scope, and its hook runs on the route the router matched
    // (after percent-decoding), so no spelling of a path can reach an API route without the token.
    void app.register(async (scope) => {
      if (api.apiToken) scope.addHook('onRequest', bearerAuth(api.apiToken));
      await scope.register(videoRoutes, { ctx });
      await scope.register(jobRoutes, { ctx });
      scope.get('/api/openapi.json', { schema: { hide: true } as Record<string, unknown> }, async () =>
        app.swagger(),
      );
    });
    if (api.dashboard !== false) void app.register(dashboard);
    // Open event streams end before the server waits for its connections.
    app.addHook('preClose', async () => closing.abort());
    if (!api.frames) app.addHook('onClose', async () => frames.close());
  }

  return app;
}

type RouteValidatorCompiler = FastifySchemaCompiler<unknown>;

/**
 * Fastify's validator compilers, with type coercion for the query string, parameters and headers
 * (they arrive as text: `?limit=10`) and none for JSON bodies, where `{"video": 42}` is a client's
 * mistake to report, not a string to invent. Unknown fields are refused (400 naming them), not
 * silently dropped.
 */
function validatorCompiler(): RouteValidatorCompiler {
  const build = AjvCompiler();
  const shared = { removeAdditional: false, useDefaults: true } as const;
  // The pool's compilers take Fastify's route definition (its typings say otherwise).
  const coercing = build(
    {},
    { customOptions: { ...shared, coerceTypes: 'array' } },
  ) as unknown as RouteValidatorCompiler;
  const strict = build(
    {},
    { customOptions: { ...shared, coerceTypes: false } },
  ) as unknown as RouteValidatorCompiler;
  return (route) => (route.httpPart === 'body' ? strict : coercing)(route);
}
