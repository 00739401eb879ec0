import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { BlobStore } from '../../adapters/blobs.js';
import type { JobError, JobRecord, JobTable } from '../../adapters/jobs.js';
import type { GenerateOptions, GenerateOptionsInput, Limits } from '../../engine/options.js';
import { parseGenerateOptions } from '../../engine/options.js';
import { sweepStaleTempFolders } from '../../engine/temp.js';
import type { GenerateRequest, Manifest, Progress } from '../../engine/types.js';
import { ThumbnailerError, asThumbnailerError, redactSecrets } from '../../errors.js';
import type { Logger } from './logger.js';
import { decodeBody, parseMessage, type MessageForm } from './messages.js';

/**
 * The job handler: everything from a message body to committed outputs, independent of who
 * delivers the message (the built-in Worker, or the Azure Functions host), so both behave alike.
 */

export interface JobMessage {
  id: string;
  /** The body as stored in the queue. */
  text: string;
  /** 1 on the first delivery. */
  dequeueCount: number;
}

export interface JobDeps {
  blobs: Pick<
    BlobStore,
    'openVideo' | 'readText' | 'uploadFile' | 'uploadText' | 'delete' | 'url' | 'endpoint'
  >;
  jobs: Pick<JobTable, 'update' | 'claimVideo' | 'renewClaim' | 'releaseClaim'>;
  accountName: string;
  videoContainer: string;
  thumbnailContainer: string;
  generate: (request: GenerateRequest) => Promise<Manifest>;
  logger: Logger;
  /** Parent of each job's temporary folder. */
  tempDir: string;
  /** Environment defaults for job options (e.g. `layout` from THUMBNAIL_LAYOUT). */
  defaultOptions?: GenerateOptionsInput;
  limits?: Partial<Limits>;
  /** How long a claim on a video lasts without renewal (renewed at half). */
  claimTtlMs: number;
  /** Deliveries before a transient failure is poisoned. */
  maxDeliveries: number;
  retryBaseMs: number;
  retryMaxMs: number;
}

export interface JobRun {
  signal: AbortSignal;
  onProgress?: (progress: Progress & { jobId: string; video: string }) => void;
  onBytesRead?: (bytes: number) => void;
  /** Filled in as soon as known, so a failure can still be reported against the job. */
  info?: JobInfo;
}

export interface JobInfo {
  jobId?: string;
  video?: string;
  form?: MessageForm;
}

export type JobOutcome =
  | {
      kind: 'done';
      jobId: string;
      video: string;
      form: MessageForm;
      manifest: Manifest;
      outputs: Record<string, string>;
      bytesRead: number;
      /** Milliseconds spent in the engine, and in the whole job. */
      engineMs: number;
      totalMs: number;
    }
  | {
      kind: 'skipped';
      jobId: string;
      video: string;
      form: MessageForm;
      reason: 'already-done' | 'in-progress-elsewhere';
      outputs: Record<string, string>;
      totalMs: number;
    }
  | { kind: 'ignored'; form: MessageForm; reason: string; totalMs: number };

export type Decision =
  | { action: 'ack'; outcome: JobOutcome }
  | { action: 'retry'; error: ThumbnailerError; delayMs: number; info: JobInfo }
  | { action: 'poison'; error: ThumbnailerError; info: JobInfo }
  | { action: 'release'; error: ThumbnailerError; info: JobInfo };

const MANIFEST = 'manifest.json';
/** Each job's temporary folder is `<tempDir>/thumbnailer-job-<pid>-XXXXXX`: the pid says whose it is. */
const JOB_FOLDER_PREFIX = 'thumbnailer-job-';

/**
 * Removes temporary folders left in `tempDir` by processes that died without cleaning up: job
 * folders, and every other kind the product makes (src/engine/temp.ts), by the same dead-owner rule.
 */
export const sweepStaleJobFolders = sweepStaleTempFolders;
const SAFE_FILE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

/** Key order does not matter when comparing options. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export function optionsDigest(options: GenerateOptions): string {
  return createHash('sha256').update(canonicalJson(options)).digest('hex').slice(0, 16);
}

function outputUrls(deps: JobDeps, video: string, manifest: Manifest): Record<string, string> {
  const urls: Record<string, string> = {};
  for (const o of manifest.outputs)
    urls[o.file] = deps.blobs.url(deps.thumbnailContainer, `${video}/${o.file}`);
  urls[MANIFEST] = deps.blobs.url(deps.thumbnailContainer, `${video}/${MANIFEST}`);
  if (manifest.options.layout === 'seed' && manifest.outputs.some((o) => o.kind === 'strip')) {
    urls['keyframes'] = deps.blobs.url(deps.thumbnailContainer, `${video}_keyframes.jpg`);
  }
  return urls;
}

function readManifest(text: string | undefined): Manifest | undefined {
  if (!text) return undefined;
  try {
    const m = JSON.parse(text) as Manifest;
    return m && typeof m === 'object' && m.input && Array.isArray(m.outputs) ? m : undefined;
  } catch {
    return undefined;
  }
}

/** Small promise pool for uploads. */
async function eachLimit<T>(items: T[], limit: number, run: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await run(items[next++]!);
    }),
  );
}

/**
 * Commits a finished local output folder to `THUMBNAILCONTAINER/<video>/`: a stale manifest is
 * withdrawn first (so a reader never sees a manifest describing a mix), every output is uploaded
 * (deterministic content: a redelivery rewrites identical bytes), outputs of the previous run that
 * the new one lacks are deleted, and `manifest.json` goes last, so its presence means complete.
 */
async function commitOutputs(
  deps: JobDeps,
  video: string,
  outDir: string,
  manifest: Manifest,
  previous: Manifest | undefined,
  signal: AbortSignal,
): Promise<void> {
  const container = deps.thumbnailContainer;
  if (previous) await deps.blobs.delete(container, `${video}/${MANIFEST}`, { signal });
  for (const o of manifest.outputs) {
    if (!SAFE_FILE.test(o.file))
      throw new ThumbnailerError('E_INTERNAL', `The engine named an unsafe output ${o.file}`);
  }
  await eachLimit(manifest.outputs, 4, (o) =>
    deps.blobs.uploadFile(container, `${video}/${o.file}`, join(outDir, o.file), {
      signal,
      contentType: o.contentType,
    }),
  );
  const strip = manifest.outputs.find((o) => o.kind === 'strip');
  if (manifest.options.layout === 'seed' && strip) {
    // Where the seed sample put its strip.
    await deps.blobs.uploadFile(container, `${video}_keyframes.jpg`, join(outDir, strip.file), {
      signal,
      contentType: strip.contentType,
    });
  }
  if (previous) {
    const keep = new Set(manifest.outputs.map((o) => o.file));
    const stale = previous.outputs.map((o) => o.file).filter((f) => SAFE_FILE.test(f) && !keep.has(f));
    await eachLimit(stale, 4, (f) => deps.blobs.delete(container, `${video}/${f}`, { signal }));
  }
  let text: string;
  try {
    text = await readFile(join(outDir, MANIFEST), 'utf8');
  } catch {
    text = JSON.stringify(manifest, null, 2) + '\n';
  }
  await deps.blobs.uploadText(container, `${video}/${MANIFEST}`, text, {
    signal,
    contentType: 'application/json',
  });
}

/**
 * Runs one job from its message: parse, check it is not already done, claim the video, run the
 * engine into a temporary folder, commit the outputs, record the job. Throws a ThumbnailerError;
 * the caller decides retry or poison from it (see `decide`).
 */
export async function processJob(message: JobMessage, deps: JobDeps, run: JobRun): Promise<JobOutcome> {
  const started = performance.now();
  const info = run.info ?? {};
  const elapsed = () => Math.round(performance.now() - started);
  const parsed = parseMessage(message.text, {
    videoContainer: deps.videoContainer,
    blobEndpoint: deps.blobs.endpoint,
    accountName: deps.accountName,
  });
  info.form = parsed.form;
  if (parsed.kind === 'ignore')
    return { kind: 'ignored', form: parsed.form, reason: parsed.reason, totalMs: elapsed() };

  const video = parsed.video;
  const jobId = parsed.id ?? message.id;
  info.jobId = jobId;
  info.video = video;
  const options = parseGenerateOptions({ ...deps.defaultOptions, ...parsed.options });
  const log = deps.logger.child({ jobId, video, attempt: message.dequeueCount });

  const source = await deps.blobs.openVideo(deps.videoContainer, video, {
    signal: run.signal,
    onBytesRead: run.onBytesRead,
  });
  const previous = readManifest(
    await deps.blobs.readText(deps.thumbnailContainer, `${video}/${MANIFEST}`, run),
  );
  const digest = optionsDigest(options);
  if (
    previous &&
    previous.input.etag === source.etag &&
    canonicalJson(previous.options) === canonicalJson(options)
  ) {
    const outputs = outputUrls(deps, video, previous);
    await deps.jobs.update(jobId, {
      video,
      status: 'done',
      progress: 1,
      attempts: message.dequeueCount,
      outputs,
      etag: source.etag,
      skipped: true,
      error: undefined,
      finishedAt: new Date().toISOString(),
    });
    log.info({ outcome: 'skipped' }, 'outputs already made for this ETag and options');
    return {
      kind: 'skipped',
      jobId,
      video,
      form: parsed.form,
      reason: 'already-done',
      outputs,
      totalMs: elapsed(),
    };
  }

  // One encode per video at a time; a redelivery of the same message may take over its own claim.
  const claimKey = `${source.etag}|${digest}`;
  const claim = await deps.jobs.claimVideo(video, { owner: message.id, key: claimKey }, deps.claimTtlMs);
  if (!claim.ok) {
    if (claim.holder.key === claimKey) {
      log.info({ outcome: 'skipped' }, 'the same work is in progress under another message');
      return {
        kind: 'skipped',
        jobId,
        video,
        form: parsed.form,
        reason: 'in-progress-elsewhere',
        outputs: {},
        totalMs: elapsed(),
      };
    }
    throw new ThumbnailerError(
      'E_VIDEO_BUSY',
      `Video ${video} is being processed with other options; retrying later`,
    );
  }
  const claimTimer = setInterval(() => {
    deps.jobs.renewClaim(video, message.id, deps.claimTtlMs).catch((error: unknown) => {
      log.warn({ err: error }, 'claim renewal failed');
    });
  }, deps.claimTtlMs / 2);
  claimTimer.unref();

  let lastWrite = 0;
  let lastPhase = '';
  let writing: Promise<void> | undefined;
  const record = (patch: Partial<JobRecord>) =>
    deps.jobs
      .update(jobId, patch)
      .catch((error: unknown) => log.warn({ err: error }, 'job record update failed'));

  const work = await mkdtemp(join(deps.tempDir, `${JOB_FOLDER_PREFIX}${process.pid}-`));
  try {
    await deps.jobs.update(jobId, {
      video,
      status: 'running',
      progress: 0,
      phase: 'probe',
      attempts: message.dequeueCount,
      etag: source.etag,
      startedAt: new Date().toISOString(),
      error: undefined,
    });
    log.info({ form: parsed.form, size: source.size }, 'job started');
    const engineStarted = performance.now();
    const outDir = join(work, 'out');
    const manifest = await deps.generate({
      source,
      outDir,
      options,
      limits: deps.limits,
      signal: run.signal,
      tempDir: work,
      onProgress: (p) => {
        run.onProgress?.({ ...p, jobId, video });
        const now = Date.now();
        // Throttled: one table write a second, or at a phase change, never two at once.
        if (!writing && (now - lastWrite >= 1000 || p.phase !== lastPhase)) {
          lastWrite = now;
          lastPhase = p.phase;
          writing = record({ progress: Math.min(0.99, p.fraction), phase: p.phase }).finally(() => {
            writing = undefined;
          });
        }
      },
    });
    const engineMs = Math.round(performance.now() - engineStarted);
    await writing;
    await commitOutputs(deps, video, outDir, manifest, previous, run.signal);
    const outputs = outputUrls(deps, video, manifest);
    await deps.jobs.update(jobId, {
      status: 'done',
      progress: 1,
      phase: 'manifest',
      outputs,
      skipped: false,
      error: undefined,
      finishedAt: new Date().toISOString(),
    });
    const totalMs = elapsed();
    log.info(
      {
        outcome: 'done',
        engineMs,
        totalMs,
        bytesRead: source.bytesRead(),
        size: source.size,
        route: manifest.route,
      },
      'job done',
    );
    return {
      kind: 'done',
      jobId,
      video,
      form: parsed.form,
      manifest,
      outputs,
      bytesRead: source.bytesRead(),
      engineMs,
      totalMs,
    };
  } finally {
    clearInterval(claimTimer);
    await writing;
    await rm(work, { recursive: true, force: true });
    await deps.jobs.releaseClaim(video, message.id).catch((error: unknown) => {
      log.warn({ err: error }, 'claim release failed');
    });
  }
}

/** Exponential backoff with jitter: base, 2x base, 4x base... capped. */
export function retryDelayMs(
  dequeueCount: number,
  baseMs: number,
  maxMs: number,
  random = Math.random,
): number {
  const exp = Math.min(maxMs, baseMs * 2 ** Math.max(0, dequeueCount - 1));
  return Math.round(exp * (0.8 + 0.4 * random()));
}

/**
 * What to do with a failed delivery: permanent errors and the last allowed delivery go to the
 * poison queue, the rest are retried after a backoff.
 */
export function decide(
  error: unknown,
  dequeueCount: number,
  deps: Pick<JobDeps, 'maxDeliveries' | 'retryBaseMs' | 'retryMaxMs'>,
  info: JobInfo = {},
): Decision {
  const e = asThumbnailerError(error);
  if (e.permanent || dequeueCount >= deps.maxDeliveries) return { action: 'poison', error: e, info };
  return {
    action: 'retry',
    error: e,
    delayMs: retryDelayMs(dequeueCount, deps.retryBaseMs, deps.retryMaxMs),
    info,
  };
}

/**
 * The message as it may be kept: unchanged, unless it carries a secret (a SAS URL's signature, an
 * account key), which is redacted in the decoded text and re-encoded as it came.
 */
function redactedMessageText(text: string): string {
  const { text: decoded, base64 } = decodeBody(text);
  const redacted = redactSecrets(decoded);
  if (redacted === decoded) return text;
  return base64 ? Buffer.from(redacted, 'utf8').toString('base64') : redacted;
}

/** The body written to `<queue>-poison`: the original message (secrets redacted), the last error and the count. */
export function poisonBody(message: JobMessage, error: JobError, info: JobInfo): string {
  const text = redactedMessageText(message.text);
  return JSON.stringify({
    error: { code: error.code, message: error.message },
    jobId: info.jobId,
    video: info.video,
    dequeueCount: message.dequeueCount,
    failedAt: new Date().toISOString(),
    message: text.length > 16_000 ? `${text.slice(0, 16_000)}...` : text,
  });
}

/**
 * `processJob` plus the retry/poison decision and the job record of a failure. Never throws:
 * the host carries out the decision (Worker: delete, re-hide, or poison the message; Functions:
 * return, throw, or write to the poison queue and return).
 */
export async function handleMessage(message: JobMessage, deps: JobDeps, run: JobRun): Promise<Decision> {
  const info: JobInfo = run.info ?? {};
  if (message.dequeueCount > deps.maxDeliveries) {
    // Earlier deliveries never finished (their workers died or timed out).
    const error = new ThumbnailerError(
      'E_INTERNAL',
      `The message was delivered ${message.dequeueCount} times without completing`,
      { permanent: true },
    );
    try {
      const parsed = parseMessage(message.text, {
        videoContainer: deps.videoContainer,
        blobEndpoint: deps.blobs.endpoint,
        accountName: deps.accountName,
      });
      if (parsed.kind === 'job') Object.assign(info, { jobId: parsed.id ?? message.id, video: parsed.video });
    } catch {
      // unparseable: the reason above stands
    }
    await recordFailure(deps, message, error, info, 'failed');
    return { action: 'poison', error, info };
  }
  try {
    const outcome = await processJob(message, deps, { ...run, info });
    return { action: 'ack', outcome };
  } catch (error) {
    const e = asThumbnailerError(error);
    if (run.signal.aborted && !e.permanent) {
      const reason = run.signal.reason as unknown;
      if (ThumbnailerError.is(reason) && reason.code === 'E_CANCELED') {
        await recordFailure(deps, message, reason, info, 'queued');
        return { action: 'release', error: reason, info };
      }
      const timeoutError = ThumbnailerError.is(reason) ? reason : e;
      const decision = decide(timeoutError, message.dequeueCount, deps, info);
      await recordFailure(
        deps,
        message,
        timeoutError,
        info,
        decision.action === 'poison' ? 'failed' : 'queued',
      );
      return decision;
    }
    const decision = decide(e, message.dequeueCount, deps, info);
    await recordFailure(deps, message, e, info, decision.action === 'poison' ? 'failed' : 'queued');
    return decision;
  }
}

async function recordFailure(
  deps: JobDeps,
  message: JobMessage,
  error: ThumbnailerError,
  info: JobInfo,
  status: 'queued' | 'failed',
): Promise<void> {
  const level = status === 'failed' ? 'error' : 'warn';
  deps.logger[level](
    {
      jobId: info.jobId ?? message.id,
      video: info.video,
      attempt: message.dequeueCount,
      code: error.code,
      err: error,
    },
    status === 'failed' ? 'job failed' : 'job attempt failed',
  );
  if (!info.video) return; // nothing to record against: the message never named a video
  await deps.jobs
    .update(info.jobId ?? message.id, {
      video: info.video,
      status,
      attempts: message.dequeueCount,
      error: { code: error.code, message: error.message },
      ...(status === 'failed' ? { finishedAt: new Date().toISOString() } : {}),
    })
    .catch((e: unknown) =>
      deps.logger.warn(
        { jobId: info.jobId ?? message.id, video: info.video, err: e },
        'job record update failed',
      ),
    );
}
