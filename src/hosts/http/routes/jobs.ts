import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { parseGenerateOptions } from '../../../engine/options.js';
import { ThumbnailerError } from '../../../errors.js';
import { parseMessage } from '../../worker/messages.js';
import { queueJob } from '../../worker/submit.js';
import type { ApiContext } from '../context.js';
import { asFieldError, fieldError } from '../errors.js';
import { ErrorBody, EventStream, Job, JobIdParams, JobList, JobListQuery, NewJob } from '../schemas.js';
import { streamJobEvents } from '../sse.js';

const notFound = (id: string) => new ThumbnailerError('E_NOT_FOUND', `No job ${JSON.stringify(id)}`);

/** `Invalid option: rows must be...` -> `options.rows`. */
function optionField(e: ThumbnailerError): string {
  const name = /^Invalid option: (?:unknown option )?([A-Za-z][\w.]*)/.exec(e.message)?.[1];
  return name && name !== 'options' ? `options.${name}` : 'options';
}

/** Jobs: queue a JSON job, list, read one, follow one with server-sent events. */
export const jobRoutes: FastifyPluginAsyncTypebox<{ ctx: ApiContext }> = async (app, { ctx }) => {
  const { storage } = ctx;

  app.post(
    '/api/jobs',
    {
      schema: {
        summary: 'Queue a JSON job (PRODUCT.md section 3, form 3) for a video already in VIDEOCONTAINER',
        tags: ['jobs'],
        body: NewJob,
        response: { 202: Job, 400: ErrorBody, 401: ErrorBody, 404: ErrorBody },
      },
    },
    async (request, reply) => {
      const body = request.body;
      let parsed;
      try {
        parsed = parseMessage(JSON.stringify({ id: body.id, video: body.video }), {
          videoContainer: storage.videoContainer,
          blobEndpoint: storage.blobs.endpoint,
          accountName: storage.accountName,
        });
      } catch (error) {
        asFieldError(error, 'video');
      }
      if (parsed.kind !== 'job') throw fieldError('video', `Invalid video: ${parsed.reason}`);
      try {
        parseGenerateOptions(body.options ?? {});
      } catch (error) {
        asFieldError(error, optionField);
      }
      // A job for a missing video would only reach the poison queue: refuse it now (404).
      await storage.blobs.getProperties(storage.videoContainer, parsed.video);
      const job = await queueJob(storage, { id: body.id, video: parsed.video, options: body.options });
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
