import { randomUUID } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import type { Settings } from '../../config.js';
import { devConnectionString } from '../../config.js';
import type { JobRecord } from '../../adapters/jobs.js';
import { createStorage, type Storage } from '../../adapters/storage.js';
import { parseGenerateOptions } from '../../engine/options.js';
import { ThumbnailerError } from '../../errors.js';
import { validateBlobName } from './messages.js';

export interface SubmitOptions {
  name?: string;
  wait?: boolean;
  timeoutMs?: number;
  /** Job options (camelCase), validated before anything is uploaded. */
  options?: Record<string, unknown>;
  pollMs?: number;
  /** Human lines (stdout by default); progress goes to `onProgress` or a bar on a terminal. */
  print?: (line: string) => void;
  onProgress?: (job: JobRecord) => void;
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

export interface QueueJobRequest {
  /** Job id; a new UUID when absent. */
  id?: string;
  /** Blob name inside VIDEOCONTAINER, already validated. */
  video: string;
  /** Job options as given (validated by the caller); absent ones keep the worker's defaults. */
  options?: Record<string, unknown>;
}

/**
 * Records a queued job and sends its JSON job message (base64, as the Functions host expects).
 * Shared by `thumbnailer submit` and the HTTP API. Returns the job as recorded.
 */
export async function queueJob(
  storage: Pick<Storage, 'jobs' | 'queue'>,
  request: QueueJobRequest,
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
  await storage.jobs.update(id, {
    video: record.video,
    status: 'queued',
    progress: 0,
    attempts: 0,
    createdAt: now,
  });
  // Only the options given, so environment defaults of the worker still apply to the rest.
  const given = request.options && Object.keys(request.options).length > 0 ? request.options : undefined;
  await storage.queue.send(
    JSON.stringify({ id, video: request.video, ...(given ? { options: given } : {}) }),
  );
  return record;
}

/**
 * `thumbnailer submit`: uploads a local video into VIDEOCONTAINER, records a queued job, sends a
 * JSON job message (base64, as the Functions host expects) and, with `wait`, follows the job in
 * the table. Without configured storage it targets the local emulator of `thumbnailer start`.
 * Returns the exit code: 0 when queued (or done), 1 when the job failed or the wait timed out.
 */
export async function submitVideo(
  settings: Settings,
  file: string,
  options: SubmitOptions = {},
): Promise<number> {
  const print = options.print ?? ((line: string) => process.stdout.write(line + '\n'));
  // A bad option is refused before anything is uploaded.
  parseGenerateOptions(options.options ?? {});
  const name = validateBlobName(options.name ?? basename(file));
  const info = await stat(file).catch(() => undefined);
  if (!info?.isFile()) throw new ThumbnailerError('E_INPUT_NOT_FOUND', `${file} is not a readable file`);
  if (!settings.storage) {
    process.stderr.write('No AzureWebJobsStorage set: using the local emulator of `thumbnailer start`.\n');
    settings = {
      ...settings,
      storage: { kind: 'connectionString', connectionString: devConnectionString() },
    };
  }
  const storage = await createStorage(settings);
  await storage.ensure();

  await storage.blobs.uploadFile(settings.videoContainer, name, file, { contentType: contentTypeFor(name) });
  const { id } = await queueJob(storage, { video: name, options: options.options });
  print(`uploaded ${settings.videoContainer}/${name} (${info.size} bytes); job ${id} queued`);
  if (!options.wait) return 0;

  const { progressBar } = await import('../cli/progress.js');
  const bar = options.onProgress ? undefined : progressBar(name);
  const deadline = options.timeoutMs ? Date.now() + options.timeoutMs : Infinity;
  let warned = false;
  const started = Date.now();
  try {
    for (;;) {
      const job = await storage.jobs.get(id);
      if (job) {
        options.onProgress?.(job);
        bar?.update(job.progress, job.phase ?? job.status);
        if (job.status === 'done') {
          bar?.stop();
          print(
            `done${job.skipped ? ' (already made)' : ''} in ${((Date.now() - started) / 1000).toFixed(1)} s:`,
          );
          for (const [file, url] of Object.entries(job.outputs ?? {})) print(`  ${file.padEnd(18)} ${url}`);
          return 0;
        }
        if (job.status === 'failed') {
          bar?.stop();
          print(
            `failed after ${job.attempts} attempt(s): ${job.error?.code ?? ''} ${job.error?.message ?? ''}`.trim(),
          );
          return 1;
        }
        if (!warned && job.status === 'queued' && Date.now() - started > 30_000) {
          warned = true;
          process.stderr.write(
            'Still queued after 30 s: is a worker running (`thumbnailer start` or `thumbnailer worker`)?\n',
          );
        }
      }
      if (Date.now() > deadline) {
        bar?.stop();
        print(`gave up waiting; job ${id} is ${job?.status ?? 'unknown'}`);
        return 1;
      }
      await new Promise((r) => setTimeout(r, options.pollMs ?? 500));
    }
  } finally {
    bar?.stop();
  }
}
