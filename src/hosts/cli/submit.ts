import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import type { Settings } from '../../config.js';
import { devConnectionString } from '../../config.js';
import type { JobRecord } from '../../adapters/jobs.js';
import { createStorage } from '../../adapters/storage.js';
import { ThumbnailerError } from '../../errors.js';
import { validateBlobName } from '../../jobs/messages.js';
import { contentTypeFor, followJob, queueJob, validateSubmission } from '../../jobs/submit.js';

export interface SubmitVideoOptions {
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

/** With --wait, a nudge when nothing picks the job up. */
const STILL_QUEUED_MS = 30_000;

/**
 * `thumbnailer submit`: uploads a local video into VIDEOCONTAINER, then submits its job through
 * the same path as the HTTP API and, with `wait`, follows the job in the table. Without
 * configured storage it targets the local emulator of `thumbnailer start`. Returns the exit code:
 * 0 when queued (or done), 1 when the job failed or the wait timed out.
 */
export async function submitVideo(
  settings: Settings,
  file: string,
  options: SubmitVideoOptions = {},
): Promise<number> {
  const print = options.print ?? ((line: string) => process.stdout.write(line + '\n'));
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
  // A bad option is refused before anything is uploaded.
  const job = validateSubmission({ video: name, options: options.options }, storage);
  await storage.ensure();

  await storage.blobs.uploadFile(settings.videoContainer, name, file, { contentType: contentTypeFor(name) });
  const { id } = await queueJob(storage, job);
  print(`uploaded ${settings.videoContainer}/${name} (${info.size} bytes); job ${id} queued`);
  if (!options.wait) return 0;

  const { progressBar } = await import('./progress.js');
  const bar = options.onProgress ? undefined : progressBar(name);
  const started = Date.now();
  let warned = false;
  try {
    const last = await followJob(storage.jobs, id, {
      pollMs: options.pollMs,
      deadline: options.timeoutMs ? started + options.timeoutMs : undefined,
      onUpdate: (job) => {
        if (!job) return;
        options.onProgress?.(job);
        bar?.update(job.progress, job.phase ?? job.status);
        if (!warned && job.status === 'queued' && Date.now() - started > STILL_QUEUED_MS) {
          warned = true;
          process.stderr.write(
            'Still queued after 30 s: is a worker running (`thumbnailer start` or `thumbnailer worker`)?\n',
          );
        }
      },
    });
    bar?.stop();
    if (last?.status === 'done') {
      print(
        `done${last.skipped ? ' (already made)' : ''} in ${((Date.now() - started) / 1000).toFixed(1)} s:`,
      );
      for (const [file, url] of Object.entries(last.outputs ?? {})) print(`  ${file.padEnd(18)} ${url}`);
      return 0;
    }
    if (last?.status === 'failed') {
      print(
        `failed after ${last.attempts} attempt(s): ${last.error?.code ?? ''} ${last.error?.message ?? ''}`.trim(),
      );
      return 1;
    }
    print(`gave up waiting; job ${id} is ${last?.status ?? 'unknown'}`);
    return 1;
  } finally {
    bar?.stop();
  }
}
