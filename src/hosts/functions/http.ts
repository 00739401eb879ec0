import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { ThumbnailerError, asThumbnailerError, errorBody } from '../../errors.js';
import { submitJob } from '../../jobs/submit.js';
import { bearerToken, tokenMatches } from '../../token.js';
import { ensureResources, getRuntime } from './runtime.js';

/**
 * `POST /api/jobs`: queues a JSON job (docs/contract.md section 3, form 3) through the same submission
 * path as the HTTP API, with the same error body. The host checks the function key (authLevel
 * function); THUMBNAILER_API_TOKEN, when set, is required on top, as on every /api route.
 */

/** A JSON job is small; queue messages cap at 64 KiB anyway. */
const MAX_BODY_BYTES = 64 * 1024;

const tooLarge = () =>
  new ThumbnailerError('E_LIMIT_EXCEEDED', `The job is larger than ${MAX_BODY_BYTES} bytes`);

function fromError(error: unknown, context: InvocationContext): HttpResponseInit {
  const e = asThumbnailerError(error);
  if (e.status >= 500) context.error(`POST /api/jobs failed: ${e.code}: ${e.message}`);
  return { status: e.status, jsonBody: errorBody(e) };
}

/**
 * The body as text, read chunk by chunk and refused as soon as it passes the limit, so a chunked
 * body (no Content-Length) is never held whole before its size is known.
 */
export async function readBoundedText(
  request: Pick<HttpRequest, 'headers' | 'body'>,
  max: number,
): Promise<string> {
  const declared = Number(request.headers.get('content-length') ?? '0');
  if (declared > max) throw tooLarge();
  if (!request.body) return '';
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > max) throw tooLarge();
      chunks.push(value);
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function parseJsonBody(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new ThumbnailerError(
      'E_MESSAGE_INVALID',
      'The body must be a JSON job: {"id"?, "video", "options"?}',
    );
  }
}

/** The Functions handler for `POST /api/jobs`. */
export async function submitJobHandler(
  request: HttpRequest,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  try {
    const rt = await getRuntime();
    const { settings, storage } = rt;
    if (
      settings.apiToken &&
      !tokenMatches(bearerToken(request.headers.get('authorization')) ?? '', settings.apiToken)
    ) {
      const e = new ThumbnailerError(
        'E_UNAUTHORIZED',
        'This API needs Authorization: Bearer <THUMBNAILER_API_TOKEN>',
      );
      return { status: e.status, jsonBody: errorBody(e), headers: { 'www-authenticate': 'Bearer' } };
    }
    const body = parseJsonBody(await readBoundedText(request, MAX_BODY_BYTES));
    await ensureResources(rt);
    const job = await submitJob(storage, body, {
      defaultOptions: settings.layout ? { layout: settings.layout } : undefined,
    });
    context.info(`queued job ${job.id} for ${job.video}`);
    return { status: 202, jsonBody: job, headers: { location: `/api/jobs/${encodeURIComponent(job.id)}` } };
  } catch (error) {
    return fromError(error, context);
  }
}
