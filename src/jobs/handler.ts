import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { JobRecord } from '../adapters/jobs.js';
import { parseGenerateOptions, type GenerateOptions } from '../engine/options.js';
import type { Manifest, Progress, RangedVideoSource } from '../engine/types.js';
import { ThumbnailerError, asThumbnailerError } from '../errors.js';
import type { Logger } from '../logger.js';
import { ClaimRenewer } from './claims.js';
import { canonicalJson, optionsDigest } from './digest.js';
import { parseMessage, type MessageForm, type ParsedMessage } from './messages.js';
import { commitOutputs, outputUrls, readCommittedManifest } from './outputs.js';
import { announceCompletion } from './events/announce.js';
import { decide, deliveredTooOften, retryDelayMs, waitDelayMs } from './policy.js';
import { JobStop, stopOf } from './stop.js';
import { makeJobFolder } from './temp.js';
import type { Decision, JobDeps, JobInfo, JobMessage, JobOutcome, JobRun, WaitReason } from './types.js';

/** processJob's answer when the job cannot run now, through no fault of its own. */
export interface Deferral {
  kind: 'deferred';
  reason: WaitReason;
  error?: ThumbnailerError;
}

/**
 * A job-table call: should the table be unreachable, the failure is `E_TABLE_UNAVAILABLE`, which
 * defers the job (`wait`, no delivery counted) instead of failing it like a blob outage would.
 */
async function tableStep<T>(step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (error) {
    if (ThumbnailerError.is(error) && error.code === 'E_STORAGE_UNAVAILABLE')
      throw new ThumbnailerError('E_TABLE_UNAVAILABLE', error.message, { cause: error });
    throw error;
  }
}

/**
 * The job handler: everything from a message body to committed outputs, independent of who
 * delivers the message (the built-in Worker, or the Azure Functions host), so both behave alike.
 * `handleMessage` parses the message once and turns any failure into a decision; `processJob`
 * runs the steps of one job.
 */

/** A parsed job message: the video, its job id and its options, validated. */
export interface JobRequest {
  jobId: string;
  video: string;
  form: MessageForm;
  options: GenerateOptions;
}

/** Parses a message into a job (or an event to ignore). Throws a permanent ThumbnailerError. */
export function parseJobMessage(
  message: JobMessage,
  deps: Pick<JobDeps, 'videoContainer' | 'blobs' | 'accountName'>,
): ParsedMessage {
  return parseMessage(message.text, {
    videoContainer: deps.videoContainer,
    blobEndpoint: deps.blobs.endpoint,
    accountName: deps.accountName,
  });
}

/**
 * `processJob` plus the retry/poison decision and the job record of a failure. Never throws:
 * the host carries out the decision (Worker: delete, re-hide, or poison the message; Functions:
 * return, throw, or write to the poison queue and return).
 */
export async function handleMessage(message: JobMessage, deps: JobDeps, run: JobRun): Promise<Decision> {
  const info: JobInfo = run.info ?? {};
  const decision = await decideMessage(message, deps, { ...run, info });
  if (!deps.events) return decision;
  // Completion events: after the manifest commit (processJob) and before the host deletes the message.
  try {
    await announceCompletion(deps.events, decision, message, deps.logger, run.signal);
    return decision;
  } catch (error) {
    // The event must be queued before the message is deleted: keep the message; its redelivery
    // finds the outputs committed and sends the same event (same id) again.
    return {
      action: 'retry',
      error: asThumbnailerError(error, 'E_STORAGE_UNAVAILABLE'),
      delayMs: retryDelayMs(message.dequeueCount, deps.retryBaseMs, deps.retryMaxMs),
      info,
    };
  }
}

/** `handleMessage` without the completion event. */
async function decideMessage(message: JobMessage, deps: JobDeps, run: JobRun): Promise<Decision> {
  const started = performance.now();
  const info: JobInfo = run.info ?? {};
  const overDelivered = message.dequeueCount > deps.maxDeliveries;
  let request: JobRequest;
  try {
    const parsed = parseJobMessage(message, deps);
    info.form = parsed.form;
    if (parsed.kind === 'ignore') {
      const totalMs = Math.round(performance.now() - started);
      return {
        action: 'ack',
        outcome: { kind: 'ignored', form: parsed.form, reason: parsed.reason, totalMs },
      };
    }
    info.jobId = parsed.id ?? message.id;
    info.video = parsed.video;
    if (overDelivered) throw deliveredTooOften(message.dequeueCount);
    const options = parseGenerateOptions({ ...deps.defaultOptions, ...parsed.options });
    request = { jobId: info.jobId, video: parsed.video, form: parsed.form, options };
  } catch (error) {
    // Earlier deliveries never finished (their workers died or timed out): that reason stands.
    const e = overDelivered ? deliveredTooOften(message.dequeueCount) : asThumbnailerError(error);
    return failed(deps, message, e, info);
  }
  // The job's own signal: the host's (shutdown, timeout), plus a lost claim.
  const own = new AbortController();
  const signal = AbortSignal.any([run.signal, own.signal]);
  try {
    const outcome = await processJob(request, message, deps, {
      ...run,
      signal,
      info,
      stop: (reason) => own.abort(reason),
    });
    if (outcome.kind === 'deferred') return deferred(deps, message, outcome, info);
    return { action: 'ack', outcome };
  } catch (error) {
    const e = asThumbnailerError(error);
    if (e.code === 'E_TABLE_UNAVAILABLE') {
      return deferred(deps, message, { kind: 'deferred', reason: 'table-unavailable', error: e }, info);
    }
    const stop = stopOf(signal);
    if (!stop || e.permanent) return failed(deps, message, e, info);
    if (stop.kind === 'shutdown') {
      await recordFailure(deps, message, stop, info, 'queued');
      return { action: 'release', error: stop, info };
    }
    if (stop.kind === 'claim-lost') {
      return deferred(deps, message, { kind: 'deferred', reason: 'claim-lost', error: stop }, info);
    }
    // A timeout is why the engine stopped, whatever it threw on the way out.
    return failed(deps, message, stop, info);
  }
}

/** A job that waits: its record says why (when the table answers), its message comes back later. */
async function deferred(deps: JobDeps, message: JobMessage, d: Deferral, info: JobInfo): Promise<Decision> {
  const delayMs = waitDelayMs(deps);
  deps.logger.info(
    {
      jobId: info.jobId,
      video: info.video,
      attempt: message.dequeueCount,
      reason: d.reason,
      delayMs,
      code: d.error?.code,
    },
    'job waits; its message comes back later without counting as a delivery',
  );
  if (d.error && d.reason !== 'table-unavailable')
    await recordFailure(deps, message, d.error, info, 'queued');
  return { action: 'wait', reason: d.reason, delayMs, error: d.error, info };
}

async function failed(
  deps: JobDeps,
  message: JobMessage,
  error: ThumbnailerError,
  info: JobInfo,
): Promise<Decision> {
  const decision = decide(error, message.dequeueCount, deps, info);
  await recordFailure(deps, message, error, info, decision.action === 'poison' ? 'failed' : 'queued');
  return decision;
}

/**
 * Runs one job: check it is not already done, claim the video, run the engine into a temporary
 * folder, commit the outputs, record the job. Throws a ThumbnailerError; `handleMessage` decides
 * retry or poison from it.
 */
export async function processJob(
  request: JobRequest,
  message: JobMessage,
  deps: JobDeps,
  run: JobRun & { stop?: (reason: JobStop) => void },
): Promise<JobOutcome | Deferral> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  const { jobId, video, form, options } = request;
  const log = deps.logger.child({ jobId, video, attempt: message.dequeueCount });

  const source = await deps.blobs.openVideo(deps.videoContainer, video, {
    signal: run.signal,
    onBytesRead: run.onBytesRead,
  });
  if (run.info) run.info.etag = source.etag;
  const previous = await readCommittedManifest(deps, video, run);

  // Step 1: nothing to do when the outputs of this source version and these options exist.
  if (previous && madeFrom(previous, source, options)) {
    const outputs = outputUrls(deps, video, previous);
    await recordSkipped(deps, jobId, video, message, source.etag, outputs);
    log.info({ outcome: 'skipped' }, 'outputs already made for this ETag and options');
    return {
      kind: 'skipped',
      jobId,
      video,
      form,
      reason: 'already-done',
      etag: source.etag,
      outputs,
      totalMs: elapsed(),
    };
  }

  // Step 2: one encode per video at a time; a redelivery of the same message may take over its own claim.
  const claimKey = `${source.etag}|${optionsDigest(options)}`;
  const claim = await tableStep(() =>
    deps.jobs.claimVideo(video, { owner: message.id, key: claimKey, jobId }, deps.claimTtlMs),
  );
  if (!claim.ok) {
    if (claim.holder.key === claimKey) {
      // The same work runs under another job: this one joins it, and ends with its outputs when
      // its message comes back and finds them committed.
      log.info({ duplicateOf: claim.holder.jobId }, 'the same work is in progress under another job');
      const duplicateOf = claim.holder.jobId && claim.holder.jobId !== jobId ? claim.holder.jobId : undefined;
      await tableStep(() =>
        deps.jobs.update(jobId, { video, status: 'queued', attempts: message.dequeueCount, duplicateOf }),
      );
      return { kind: 'deferred', reason: 'duplicate' };
    }
    return {
      kind: 'deferred',
      reason: 'video-busy',
      error: new ThumbnailerError(
        'E_VIDEO_BUSY',
        `Video ${video} is being processed with other options; waiting`,
      ),
    };
  }
  const renewer = claimRenewer(deps, video, message.id, log).start();
  // Another worker took the claim (ours expired unrenewed): stop, so two never encode one video.
  renewer.once('lost', () => run.stop?.(JobStop.claimLost(video)));

  const progress = new ProgressRecorder(deps, jobId, log);
  const work = await makeJobFolder(deps.tempDir);
  try {
    // Step 3: run the engine into the job's temporary folder.
    await tableStep(() => recordRunning(deps, jobId, video, message, source.etag));
    log.info({ form, size: source.size }, 'job started');
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
        progress.report(p);
      },
    });
    const engineMs = Math.round(performance.now() - engineStarted);
    await progress.settled();

    // Step 4: commit the outputs, manifest.json last.
    await commitOutputs(deps, video, outDir, manifest, previous, run.signal);
    const outputs = outputUrls(deps, video, manifest);

    // Step 5: record the job as done. The host deletes the message after this returns. (Should
    // the table be unreachable now, the next delivery finds the outputs and records them.)
    await tableStep(() => recordDone(deps, jobId, outputs));
    const totalMs = elapsed();
    const bytesRead = source.bytesRead();
    log.info(
      { outcome: 'done', engineMs, totalMs, bytesRead, size: source.size, route: manifest.route },
      'job done',
    );
    return { kind: 'done', jobId, video, form, manifest, outputs, bytesRead, engineMs, totalMs };
  } finally {
    await renewer.close();
    await progress.settled();
    await rm(work, { recursive: true, force: true });
    await deps.jobs.releaseClaim(video, message.id).catch((error: unknown) => {
      log.warn({ err: error }, 'claim release failed');
    });
  }
}

/** True when a committed manifest was made from this version of the source with these options. */
function madeFrom(previous: Manifest, source: RangedVideoSource, options: GenerateOptions): boolean {
  return previous.input.etag === source.etag && canonicalJson(previous.options) === canonicalJson(options);
}

function claimRenewer(deps: JobDeps, video: string, owner: string, log: Logger): ClaimRenewer {
  const renewer = new ClaimRenewer(deps.jobs, video, owner, deps.claimTtlMs);
  renewer.on('error', (_video, error) => log.warn({ err: error }, 'claim renewal failed'));
  return renewer;
}

/** Progress into the job record: at most one table write a second (or at a phase change), never two at once. */
class ProgressRecorder {
  private lastWrite = 0;
  private lastPhase = '';
  private writing?: Promise<void>;

  constructor(
    private readonly deps: JobDeps,
    private readonly jobId: string,
    private readonly log: Logger,
  ) {}

  report(p: Progress): void {
    const now = Date.now();
    if (this.writing || (now - this.lastWrite < 1000 && p.phase === this.lastPhase)) return;
    this.lastWrite = now;
    this.lastPhase = p.phase;
    this.writing = this.deps.jobs
      .update(this.jobId, { progress: Math.min(0.99, p.fraction), phase: p.phase })
      .catch((error: unknown) => this.log.warn({ err: error }, 'job record update failed'))
      .finally(() => {
        this.writing = undefined;
      });
  }

  async settled(): Promise<void> {
    await this.writing;
  }
}

function recordSkipped(
  deps: JobDeps,
  jobId: string,
  video: string,
  message: JobMessage,
  etag: string | undefined,
  outputs: Record<string, string>,
): Promise<void> {
  return deps.jobs.update(jobId, {
    video,
    status: 'done',
    progress: 1,
    attempts: message.dequeueCount,
    outputs,
    etag,
    skipped: true,
    error: undefined,
    finishedAt: new Date().toISOString(),
  });
}

function recordRunning(
  deps: JobDeps,
  jobId: string,
  video: string,
  message: JobMessage,
  etag: string | undefined,
): Promise<void> {
  return deps.jobs.update(jobId, {
    video,
    status: 'running',
    progress: 0,
    phase: 'probe',
    attempts: message.dequeueCount,
    etag,
    startedAt: new Date().toISOString(),
    error: undefined,
  });
}

function recordDone(deps: JobDeps, jobId: string, outputs: Record<string, string>): Promise<void> {
  return deps.jobs.update(jobId, {
    status: 'done',
    progress: 1,
    phase: 'manifest',
    outputs,
    skipped: false,
    error: undefined,
    finishedAt: new Date().toISOString(),
  });
}

async function recordFailure(
  deps: JobDeps,
  message: JobMessage,
  error: ThumbnailerError,
  info: JobInfo,
  status: JobRecord['status'] & ('queued' | 'failed'),
): Promise<void> {
  const level = status === 'failed' ? 'error' : 'warn';
  const jobId = info.jobId ?? message.id;
  deps.logger[level](
    { jobId, video: info.video, attempt: message.dequeueCount, code: error.code, err: error },
    status === 'failed' ? 'job failed' : 'job attempt failed',
  );
  if (!info.video) return; // nothing to record against: the message never named a video
  await deps.jobs
    .update(jobId, {
      video: info.video,
      status,
      attempts: message.dequeueCount,
      error: { code: error.code, message: error.message },
      ...(status === 'failed' ? { finishedAt: new Date().toISOString() } : {}),
    })
    .catch((e: unknown) =>
      deps.logger.warn({ jobId, video: info.video, err: e }, 'job record update failed'),
    );
}
