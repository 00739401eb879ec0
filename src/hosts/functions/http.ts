import { randomUUID } from 'node:crypto';
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import type { JobRecord } from '../../adapters/jobs.js';
import { parseGenerateOptions } from '../../engine/options.js';
import { ThumbnailerError, asThumbnailerError } from '../../errors.js';
import { bearerToken, tokenMatches } from '../../token.js';
import { parseMessage } from '../worker/messages.js';
import { ensureResources, getRuntime } from './runtime.js';

/**
 * `POST /api/jobs`: queues a JSON job (PRODUCT.md section 3, form 3) after validating it with the
 * same parser and options schema the job handler uses, so a bad job is refused with a 4xx naming
 * the problem instead of reaching the poison queue. The host checks the function key
 * (authLevel function); THUMBNAILER_API_TOKEN, when set, is required on top, as on every /api route.
 */

/** A JSON job is small; queue messages cap at 64 KiB anyway. */
const MAX_BODY_BYTES = 64 * 1024;

function errorResponse(status: number, code: string, message: string): HttpResponseInit {
  return { status, jsonBody: { error: { code, message } } };
}

function fromError(error: unknown, context: InvocationContext): HttpResponseInit {
  const e = asThumbnailerError(error);
  if (e.status >= 500) {
    context.error(`POST /api/jobs failed: ${e.code}: ${e.message}`);
    // Only 4xx messages reach clients; 5xx say what failed without internals.
    return errorResponse(e.status, e.code, 'Internal error');
  }
  return errorResponse(e.status, e.code, e.message);
}

async function readBody(request: HttpRequest): Promise<string> {
  const declared = Number(request.headers.get('content-length') ?? '0');
  if (declared > MAX_BODY_BYTES) {
    throw new ThumbnailerError('E_LIMIT_EXCEEDED', `The job is larger than ${MAX_BODY_BYTES} bytes`);
  }
  const text = await request.text();
  if (Buffer.byteLength(text) > MAX_BODY_BYTES) {
    throw new ThumbnailerError('E_LIMIT_EXCEEDED', `The job is larger than ${MAX_BODY_BYTES} bytes`);
  }
  return text;
}

/** The Functions handler for `POST /api/jobs`. */
export async function submitJob(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  try {
    const rt = await getRuntime();
    const { settings, storage } = rt;
    if (
      settings.apiToken &&
      !tokenMatches(bearerToken(request.headers.get('authorization')) ?? '', settings.apiToken)
    ) {
      return {
        ...errorResponse(
          401,
          'E_UNAUTHORIZED',
          'This API needs Authorization: Bearer <THUMBNAILER_API_TOKEN>',
        ),
        headers: { 'www-authenticate': 'Bearer' },
      };
    }
    const text = (await readBody(request)).trim();
    if (!text.startsWith('{')) {
      throw new ThumbnailerError(
        'E_MESSAGE_INVALID',
        'The body must be a JSON job: {"id"?, "video", "options"?}',
      );
    }
    const parsed = parseMessage(text, {
      videoContainer: settings.videoContainer,
      blobEndpoint: storage.blobs.endpoint,
      accountName: storage.accountName,
    });
    if (parsed.kind !== 'job' || parsed.form !== 'json') {
      throw new ThumbnailerError(
        'E_MESSAGE_INVALID',
        'The body must be a JSON job: {"id"?, "video", "options"?}',
      );
    }
    // Refused before anything is queued; the job handler applies the same schema again.
    parseGenerateOptions({ ...(settings.layout ? { layout: settings.layout } : {}), ...parsed.options });
    await ensureResources(rt);
    // A job for a video that does not exist would only reach the poison queue.
    await storage.blobs.getProperties(settings.videoContainer, parsed.video);

    const id = parsed.id ?? randomUUID();
    const now = new Date().toISOString();
    const record: JobRecord = {
      id,
      video: parsed.video,
      status: 'queued',
      progress: 0,
      attempts: 0,
      createdAt: now,
      updatedAt: now,
    };
    await storage.jobs.update(id, { ...record, error: undefined });
    const body = JSON.stringify({
      id,
      video: parsed.video,
      ...(parsed.options ? { options: parsed.options } : {}),
    });
    // Base64, what the Functions host and SDKs write by default; the parser reads either form.
    await storage.queue.send(body);
    context.info(`queued job ${id} for ${parsed.video}`);
    return { status: 202, jsonBody: record, headers: { location: `/api/jobs/${encodeURIComponent(id)}` } };
  } catch (error) {
    return fromError(error, context);
  }
}
