import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ThumbnailerError } from '../../../errors.js';
import { submitJob } from '../../../jobs/submit.js';
import type { ApiContext } from '../context.js';
import { asFieldError } from '../errors.js';
import { ErrorBody, EventStream, Job, JobIdParams, JobList, JobListQuery, NewJob } from '../schemas.js';
import { streamJobEvents } from '../sse.js';

const notFound = (id: string) => new ThumbnailerError('E_NOT_FOUND', `No job ${JSON.stringify(id)}`);

/** Jobs: queue a JSON job, list, read one, follow one with server-sent events. */
export const jobRoutes: FastifyPluginAsyncTypebox<{ ctx: ApiContext }> = async (app, { ctx }) => {
  const { storage } = ctx;

  app.post(
    '/api/jobs',
    {
      schema: {
        summary:
          'Queue a JSON job (docs/contract.md section 3, form 3) for a video already in VIDEOCONTAINER',
        tags: ['jobs'],
        body: NewJob,
        response: { 202: Job, 400: ErrorBody, 401: ErrorBody, 404: ErrorBody, 409: ErrorBody },
      },
    },
    async (request, reply) => {
      // Validated as the worker will read it; a job for a missing video is a 404 now.
      const job = await submitJob(storage, request.body).catch((error: unknown) => asFieldError(error));
      return reply
        .status(202)
        .header('location', `/api/jobs/${encodeURIComponent(job.id)}`)
        .send(job);
    },
  );

  app.get(
    '/api/jobs',
    {
      schema: {
        summary: 'Jobs, one page per call (at most `limit`, filtered by the table service); `next` continues',
        tags: ['jobs'],
        querystring: JobListQuery,
        response: { 200: JobList, 400: ErrorBody, 401: ErrorBody },
      },
    },
    // One table request per call, however many jobs the table holds.
    async (request) => storage.jobs.page(request.query),
  );

  app.get(
    '/api/jobs/:id',
    {
      schema: {
        summary: 'One job: queued, running (with progress), done (with output URLs) or failed (with reason)',
        tags: ['jobs'],
        params: JobIdParams,
        response: { 200: Job, 400: ErrorBody, 401: ErrorBody, 404: ErrorBody },
      },
    },
    async (request) => {
      const job = await storage.jobs.get(request.params.id);
      if (!job) throw notFound(request.params.id);
      return job;
    },
  );

  app.get(
    '/api/jobs/:id/events',
    {
      schema: {
        summary: 'Server-sent events: `progress` events until one `done` or `failed` event, then the end',
        tags: ['jobs'],
        params: JobIdParams,
        produces: ['text/event-stream'],
        response: {
          200: EventStream,
          400: ErrorBody,
          401: ErrorBody,
          404: ErrorBody,
          503: ErrorBody,
        },
      },
    },
    async (request, reply) => {
      const release = ctx.streamGate.enter(reply);
      try {
        const first = await storage.jobs.get(request.params.id);
        if (!first) throw notFound(request.params.id);
        reply.hijack();
        await streamJobEvents(reply.raw, first, {
          get: (id) => storage.jobs.get(id),
          worker: ctx.worker,
          pollMs: ctx.eventsPollMs,
          signal: ctx.closing,
          lifetimeMs: ctx.eventStreamLifetimeMs,
          lastEventId: request.headers['last-event-id'],
        });
      } finally {
        release();
      }
    },
  );
};
