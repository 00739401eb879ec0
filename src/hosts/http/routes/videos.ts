import { createHash } from 'node:crypto';
import type { FastifyPluginAsyncTypebox, TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ThumbnailerError } from '../../../errors.js';
import { validateBlobName } from '../../../jobs/messages.js';
import { queueJob } from '../../../jobs/submit.js';
import { clientGone } from '../bounds.js';
import { servedOutputType, servedVideoType } from '../content-types.js';
import type { ApiContext } from '../context.js';
import { asFieldError } from '../errors.js';
import { etagMatches, parseRange } from '../range.js';
import {
  Binary,
  ErrorBody,
  FrameQuery,
  Job,
  NotModified,
  OutputParams,
  UploadQuery,
  VideoParams,
} from '../schemas.js';
import { receiveUpload } from '../upload.js';

function videoName(name: string, field = 'name'): string {
  try {
    return validateBlobName(name);
  } catch (error) {
    return asFieldError(error, field);
  }
}

/**
 * Serves a blob with HTTP range support (206, Accept-Ranges, Content-Range, 416), ETag and
 * If-None-Match (304), streamed from one ranged Blob download pinned to the ETag it announced.
 * `typeOf` maps the stored content type to one of the product's own.
 */
async function serveBlob(
  ctx: ApiContext,
  request: FastifyRequest,
  reply: FastifyReply,
  container: string,
  name: string,
  cacheControl: string,
  typeOf: (stored: string | undefined) => string,
): Promise<FastifyReply> {
  const blobs = ctx.storage.blobs;
  const props = await blobs.getProperties(container, name);
  const size = props.size;
  reply
    .header('accept-ranges', 'bytes')
    .header('content-type', typeOf(props.contentType))
    .header('cache-control', cacheControl);
  if (props.etag) reply.header('etag', props.etag);
  if (props.lastModified) reply.header('last-modified', props.lastModified.toUTCString());
  if (etagMatches(request.headers['if-none-match'], props.etag)) return reply.status(304).send();

  const ifRange = request.headers['if-range'];
  let range = parseRange(request.headers.range, size);
  if (ifRange && ifRange !== props.etag) range = undefined;
  if (range === 'unsatisfiable') {
    reply.header('content-range', `bytes */${size}`);
    throw new ThumbnailerError(
      'E_RANGE_NOT_SATISFIABLE',
      `The range is outside the ${size} bytes of ${name}`,
    );
  }
  const start = range?.start ?? 0;
  const length = range ? range.end - range.start + 1 : size;
  if (range) reply.status(206).header('content-range', `bytes ${range.start}-${range.end}/${size}`);
  reply.header('content-length', length);
  if (request.method === 'HEAD' || length === 0) return reply.send();
  const stream = await blobs.download(container, name, {
    offset: start,
    count: length,
    ifMatch: props.etag || undefined,
    signal: clientGone(reply),
  });
  return reply.send(stream);
}

/** What a route serving blob bytes with ranges and conditional requests can answer. */
const RANGED_RESPONSES = {
  200: Binary,
  206: Binary,
  304: NotModified,
  401: ErrorBody,
  404: ErrorBody,
  416: ErrorBody,
};

/** Videos: streamed upload, source and outputs with ranges, frames on demand. */
export const videoRoutes: FastifyPluginAsyncTypebox<{ ctx: ApiContext }> = async (app, { ctx }) => {
  const { storage, maxUploadBytes } = ctx;
  const blobs = storage.blobs;

  // The body of an upload is the video itself, whatever its type: a stream, never parsed.
  await app.register(async (plain) => {
    const upload = plain.withTypeProvider<TypeBoxTypeProvider>();
    upload.removeAllContentTypeParsers();
    upload.addContentTypeParser('*', (_request, payload, done) => done(null, payload));
    upload.post(
      '/api/videos',
      {
        schema: {
          summary: 'Upload a video (the request body, streamed into VIDEOCONTAINER/name) and queue its job',
          tags: ['videos'],
          querystring: UploadQuery,
          consumes: ['video/*', 'application/octet-stream'],
          response: { 202: Job, 400: ErrorBody, 401: ErrorBody, 413: ErrorBody, 422: ErrorBody },
        },
      },
      async (request, reply) => {
        const name = videoName(request.query.name);
        const bytes = await receiveUpload(request, reply, {
          blobs,
          container: storage.videoContainer,
          name,
          maxBytes: maxUploadBytes,
        });
        request.log.info({ video: name, bytes }, 'video uploaded');
        const job = await queueJob(storage, { video: name });
        return reply
          .status(202)
          .header('location', `/api/jobs/${encodeURIComponent(job.id)}`)
          .send(job);
      },
    );
  });

  // GET and HEAD (a HEAD answers the same headers without reading the blob).
  app.route({
    method: ['GET', 'HEAD'],
    url: '/api/videos/:name/source',
    schema: {
      summary: 'The source video, with HTTP range support (seekable in a <video> element)',
      tags: ['videos'],
      params: VideoParams,
      produces: ['video/*'],
      response: RANGED_RESPONSES,
    },
    handler: async (request, reply) =>
      serveBlob(
        ctx,
        request,
        reply,
        storage.videoContainer,
        videoName(request.params.name),
        'no-cache',
        servedVideoType,
      ),
  });

  app.route({
    method: ['GET', 'HEAD'],
    url: '/api/videos/:name/outputs/:file',
    schema: {
      summary: 'An output file (strip.jpg, poster.jpg, storyboard.vtt, manifest.json...), with range support',
      tags: ['videos'],
      params: OutputParams,
      response: RANGED_RESPONSES,
    },
    handler: async (request, reply) => {
      const name = videoName(request.params.name);
      // Outputs are rewritten when a video is made again: revalidate by ETag (cheap 304s).
      return serveBlob(
        ctx,
        request,
        reply,
        storage.thumbnailContainer,
        `${name}/${request.params.file}`,
        'no-cache',
        () => servedOutputType(request.params.file),
      );
    },
  });

  for (const format of ['jpg', 'webp'] as const) {
    app.get(
      `/api/videos/:name/frame.${format}`,
      {
        schema: {
          summary: `One frame on demand as ${format === 'jpg' ? 'JPEG' : 'WebP'}, read through the container index (no job, no full read)`,
          tags: ['frames'],
          params: VideoParams,
          querystring: FrameQuery,
          produces: [format === 'jpg' ? 'image/jpeg' : 'image/webp'],
          response: {
            200: Binary,
            304: NotModified,
            400: ErrorBody,
            401: ErrorBody,
            404: ErrorBody,
            422: ErrorBody,
            503: ErrorBody,
          },
        },
      },
      async (request, reply) => {
        const name = videoName(request.params.name);
        const { time, width, mode } = request.query;
        const props = await blobs.getProperties(storage.videoContainer, name);
        const etag = `"${createHash('sha256')
          .update(`${props.etag}|${time}|${width}|${mode}|${format}`)
          .digest('base64url')
          .slice(0, 27)}"`;
        reply
          .header('etag', etag)
          // The same URL shows another frame only when the video is replaced: revalidate soon.
          .header('cache-control', 'private, max-age=60')
          .header('vary', 'authorization');
        if (etagMatches(request.headers['if-none-match'], etag)) return reply.status(304).send();
        const key = `${name}\n${props.etag}`;
        // Shed load past the bound (503, Retry-After) rather than queue sockets and decoders.
        const release = ctx.frameGate.enter(reply);
        let frame;
        try {
          frame = await ctx.frames.frame(
            key,
            () => blobs.openVideo(storage.videoContainer, name, { onBytesRead: ctx.onBytesRead }),
            // A client that goes away stops the index read and ffmpeg.
            { time, width, mode, format, signal: clientGone(reply) },
          );
        } catch (error) {
          if (ThumbnailerError.is(error) && error.code === 'E_OPTION_INVALID') asFieldError(error, 'time');
          if (ThumbnailerError.is(error) && error.code === 'E_FRAME_UNAVAILABLE') {
            const outputs = `/api/videos/${encodeURIComponent(name)}/outputs/`;
            throw new ThumbnailerError(
              'E_FRAME_UNAVAILABLE',
              `${error.message} Its job's outputs have its frames: ${outputs}poster.jpg, ${outputs}strip.jpg ` +
                `and the storyboard (${outputs}storyboard.vtt).`,
              { cause: error },
            );
          }
          throw error;
        } finally {
          release();
        }
        return reply
          .header('content-type', frame.contentType)
          .header('content-length', frame.data.length)
          .header('x-frame-time', frame.actualTime.toFixed(3))
          .header('x-frame-size', `${frame.width}x${frame.height}`)
          .header('x-bytes-read', frame.bytesRead)
          .send(frame.data);
      },
    );
  }
};
