import { Transform, pipeline, type Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { BlobStore } from '../../adapters/blobs.js';
import { ThumbnailerError } from '../../errors.js';
import { sniffingStream } from './content-types.js';

/**
 * A streamed upload into one blob: the size cap (declared and counted), the stored type sniffed
 * from the bytes, and the cleanup that leaves no partial or empty video behind. Knows nothing of
 * jobs: the route decides what follows an upload.
 */

const mib = (bytes: number) => `${(bytes / 1024 ** 2).toFixed(bytes < 1024 ** 2 ? 2 : 0)} MiB`;

export interface UploadTarget {
  blobs: BlobStore;
  container: string;
  /** A validated blob name. */
  name: string;
  maxBytes: number;
}

/** Counts bytes through and fails past `max`. */
function capped(max: number, onOverflow: () => void): Transform & { bytes: () => number } {
  let bytes = 0;
  const t = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      bytes += chunk.length;
      if (bytes > max) {
        // Stop reading: the upload is aborted (its reader fails) and the connection closed after the 413.
        onOverflow();
        callback();
        t.destroy(new ThumbnailerError('E_LIMIT_EXCEEDED', `The upload is larger than ${mib(max)}`));
        return;
      }
      callback(null, chunk);
    },
  });
  return Object.assign(t, { bytes: () => bytes });
}

/**
 * Streams the request body into `container/name` and returns the bytes stored. Throws
 * `E_LIMIT_EXCEEDED` past the cap (the connection closes after the 413), `E_INPUT_EMPTY` for an
 * empty body, `E_OPTION_INVALID` when the client goes away; in each case no new version stays.
 */
export async function receiveUpload(
  request: FastifyRequest,
  reply: FastifyReply,
  { blobs, container, name, maxBytes }: UploadTarget,
): Promise<number> {
  const declared = Number(request.headers['content-length'] ?? NaN);
  if (Number.isFinite(declared) && declared > maxBytes) {
    // Refused before reading a byte; the connection closes so the rest is never read.
    reply.header('connection', 'close');
    throw new ThumbnailerError(
      'E_LIMIT_EXCEEDED',
      `The upload (${mib(declared)}) is larger than the limit of ${mib(maxBytes)}`,
    );
  }
  if (declared === 0) throw new ThumbnailerError('E_INPUT_EMPTY', 'The request body is empty');
  const before = await blobs
    .getProperties(container, name)
    .then((p) => p.etag)
    .catch((e: ThumbnailerError) => {
      if (e.code === 'E_BLOB_NOT_FOUND') return undefined;
      throw e;
    });

  const body = (request.body as Readable | undefined) ?? request.raw;
  const controller = new AbortController();
  let overflow = false;
  const counter = capped(maxBytes, () => {
    overflow = true;
    body.unpipe(counter);
    body.pause();
    controller.abort();
  });
  // Not pipeline(): on overflow the request must stay open to carry the 413 back.
  // Stored with the type of its bytes, never the one the client declared.
  const sniffer = sniffingStream();
  const stop = () => {
    if (!controller.signal.aborted) controller.abort();
    counter.destroy();
    sniffer.destroy();
  };
  body.once('error', stop);
  body.once('aborted', stop);
  body.pipe(counter);
  pipeline(counter, sniffer, () => undefined);
  try {
    const contentType = await sniffer.type;
    // Stopped (over the cap, client gone) before the upload could listen: say so now.
    if (sniffer.destroyed)
      throw sniffer.errored ?? new ThumbnailerError('E_OPTION_INVALID', 'The upload was interrupted');
    await blobs.uploadStream(container, name, sniffer, { signal: controller.signal, contentType });
  } catch (error) {
    // Nothing was committed (the block list is committed last); should a version have
    // landed all the same, it goes, but a video that was there before stays.
    await blobs
      .getProperties(container, name)
      .then((p) => (p.etag !== before ? blobs.delete(container, name) : undefined))
      .catch(() => undefined);
    if (overflow) {
      // The rest of the body is never read: close once the 413 is out.
      reply.header('connection', 'close');
      reply.raw.once('finish', () => request.raw.socket?.destroy());
      throw new ThumbnailerError('E_LIMIT_EXCEEDED', `The upload is larger than ${mib(maxBytes)}`);
    }
    if (controller.signal.aborted) {
      throw new ThumbnailerError('E_OPTION_INVALID', 'The upload was interrupted', { cause: error });
    }
    throw error;
  }
  if (counter.bytes() === 0) {
    await blobs.delete(container, name);
    throw new ThumbnailerError('E_INPUT_EMPTY', 'The request body is empty');
  }
  return counter.bytes();
}
