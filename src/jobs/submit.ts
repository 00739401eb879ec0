import { randomUUID } from 'node:crypto';
import type { JobRecord } from '../adapters/jobs.js';
import type { Storage } from '../adapters/storage.js';
import { parseGenerateOptions, type GenerateOptionsInput } from '../engine/options.js';
import { ThumbnailerError } from '../errors.js';
import { canonicalJson } from './digest.js';
import { parseMessage } from './messages.js';

/**
 * Submission: the one path from a client's job to a queued job, shared by the HTTP API
 * (`POST /api/jobs`, uploads), the Functions HTTP trigger and `thumbnailer submit`. A job is
 * validated with the parser and options schema the job handler uses, so a bad one is refused with
 * an error naming its field instead of reaching the poison queue.
 */

export type SubmitStorage = Pick<Storage, 'blobs' | 'jobs' | 'queue' | 'accountName' | 'videoContainer'>;

/** A JSON job as a client sends it (docs/contract.md section 3, form 3). */
export interface JobSubmission {
  /** Job id; a new UUID when absent. */
  id?: string;
  /** A blob name inside VIDEOCONTAINER, or a blob URL of the account. */
  video: string;
  /** Job options (camelCase); absent ones keep the worker's defaults. */
  options?: Record<string, unknown>;
}

export interface SubmitOptions {
  /** The worker's environment defaults, applied when validating (e.g. THUMBNAIL_LAYOUT). */
  defaultOptions?: GenerateOptionsInput;
}

const CONTENT_TYPES: Record<string, string> = {
  mp4: 'video/mp4',
  m4v: 'video/mp4',
  mov: 'video/quicktime',
  mkv: 'video/x-matroska',
  webm: 'video/webm',
  avi: 'video/x-msvideo',
  ts: 'video/mp2t',
  mpg: 'video/mpeg',
  mpeg: 'video/mpeg',
};

/** The Content-Type a video blob gets, from its name's extension. */
export function contentTypeFor(name: string): string {
  const extension = name.split('.').pop()?.toLowerCase() ?? '';
  return CONTENT_TYPES[extension] ?? 'application/octet-stream';
}

/**
 * Validates a submitted job without touching storage: the shape, the id, the video (a URL is
 * turned into its blob name) and the options. Errors are `E_MESSAGE_INVALID`, `E_URL_REFUSED` or
 * `E_OPTION_INVALID`, each naming its field (`video`, `id`, `options.rows`...).
 */
export function validateSubmission(
  body: unknown,
  storage: { blobs: Pick<SubmitStorage['blobs'], 'endpoint'> } & Pick<
    SubmitStorage,
    'accountName' | 'videoContainer'
  >,
  options: SubmitOptions = {},
): JobSubmission {
  if (!body || typeof body !== 'object' || Array.isArray(body)) {
    throw new ThumbnailerError(
      'E_MESSAGE_INVALID',
      'The body must be a JSON job: {"id"?, "video", "options"?}',
    );
  }
  const parsed = parseMessage(JSON.stringify(body), {
    videoContainer: storage.videoContainer,
    blobEndpoint: storage.blobs.endpoint,
    accountName: storage.accountName,
  });
  if (parsed.kind !== 'job' || parsed.form !== 'json') {
    const reason = parsed.kind === 'ignore' ? `: ${parsed.reason}` : '';
    throw new ThumbnailerError(
      'E_MESSAGE_INVALID',
      `The body must be a JSON job: {"id"?, "video", "options"?}${reason}`,
      { field: 'video' },
    );
  }
  try {
    // The job handler applies the same schema again, over the same defaults.
    parseGenerateOptions({ ...options.defaultOptions, ...parsed.options });
  } catch (error) {
    if (!ThumbnailerError.is(error)) throw error;
    throw new ThumbnailerError(error.code, error.message, {
      cause: error,
      field: error.field ? `options.${error.field}` : 'options',
    });
  }
  return { id: parsed.id, video: parsed.video, options: parsed.options };
}

/**
 * Validates a submitted job, checks its video exists (a job for a missing video would only reach
 * the poison queue: E_BLOB_NOT_FOUND now), records it as queued and queues its message.
 */
export async function submitJob(
  storage: SubmitStorage,
  body: unknown,
  options: SubmitOptions = {},
): Promise<JobRecord> {
  const job = validateSubmission(body, storage, options);
  await storage.blobs.getProperties(storage.videoContainer, job.video);
  return queueJob(storage, job);
}

/**
 * Records a queued job and sends its JSON job message (base64, as the Functions host expects).
 * The job must be validated already. A job id names one job: an id already recorded for another
 * video or other options is E_JOB_CONFLICT (409); the same job sent again is not queued twice
 * (its record is returned as it stands), unless it failed, when it is queued again.
 */
export async function queueJob(
  storage: Pick<SubmitStorage, 'jobs' | 'queue'>,
  request: JobSubmission,
): Promise<JobRecord> {
  const id = request.id ?? randomUUID();
  const now = new Date().toISOString();
  const record: JobRecord = {
    id,
    video: request.video,
    status: 'queued',
    progress: 0,
    attempts: 0,
    createdAt: now,
    updatedAt: now,
  };
  // Only the options given, so environment defaults of the worker still apply to the rest.
  const given = request.options && Object.keys(request.options).length > 0 ? request.options : undefined;
  const requestKey = canonicalJson({ video: request.video, options: given ?? {} });
  const taken = await storage.jobs.create(record, requestKey);
  if (taken) {
    const { existing } = taken;
    if (existing.video !== request.video || (taken.request !== undefined && taken.request !== requestKey)) {
      throw new ThumbnailerError(
        'E_JOB_CONFLICT',
        `Job ${JSON.stringify(id)} already names another job (video ${JSON.stringify(existing.video)}); use another id`,
        { field: 'id' },
      );
    }
    if (existing.status !== 'failed') return existing;
    await storage.jobs.update(id, { status: 'queued', progress: 0, error: undefined });
    record.createdAt = existing.createdAt;
  }
  await storage.queue.send(
    JSON.stringify({ id, video: request.video, ...(given ? { options: given } : {}) }),
  );
  return record;
}

/**
 * Follows a job in the table until it ends (done or failed), the deadline passes or the signal
 * aborts; `onUpdate` sees every read. Returns the last record read.
 */
export async function followJob(
  jobs: Pick<Storage['jobs'], 'get'>,
  id: string,
  options: {
    pollMs?: number;
    deadline?: number;
    signal?: AbortSignal;
    onUpdate?: (job: JobRecord | undefined) => void;
  } = {},
): Promise<JobRecord | undefined> {
  const { setTimeout: sleep } = await import('node:timers/promises');
  for (;;) {
    const job = await jobs.get(id);
    options.onUpdate?.(job);
    if (job && (job.status === 'done' || job.status === 'failed')) return job;
    if (Date.now() > (options.deadline ?? Infinity) || options.signal?.aborted) return job;
    await sleep(options.pollMs ?? 500, undefined, { signal: options.signal }).catch(() => undefined);
  }
}
