import { randomUUID } from 'node:crypto';
import { copyFile, mkdir, readdir, rename, rm, rmdir, stat, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ThumbnailerError } from '../errors.js';
import { chooseDecodeRoute, runDecode, throwIfAborted } from './decode-run.js';
import { planFrames, type FramePlan, type OutputRequest } from './frameplan.js';
import { DEFAULT_LIMITS, parseGenerateOptions, type GenerateOptions, type Limits } from './options.js';
import type { OutputPlanContext, PlannedBranch, Timed } from './output-plan.js';
import { planOutputs } from './planners.js';
import { makeTempFolder } from './temp.js';
import { assertUsableFacts } from './verdicts.js';
import { openVideo, type OpenVideo } from './video.js';
import { openByteSource, type ByteSource } from './source.js';
import type { DecodeFacts, GenerateRequest, InputFacts, Manifest, OutputFile } from './types.js';

/** Progress weights: opening the video (index, probe), then the one decode run for every output. */
const PHASE_WEIGHTS = { probe: 1, frames: 10, manifest: 0.2 } as const;
const PHASES = ['probe', 'frames', 'manifest'] as const;
type Phase = (typeof PHASES)[number];

/**
 * Makes every requested output of one video into `outDir`, `manifest.json` last. Outputs are built
 * in a private temporary folder and moved into `outDir` only when all of them succeeded, so a failed
 * or canceled job leaves nothing behind (and its temporary folder is always removed).
 *
 * The steps: open the video, plan the outputs (one planner each), plan the frames (their union),
 * choose the decode route, run it (every frame decoded once for all outputs), assemble the files,
 * commit them with the manifest.
 */
export async function generate(request: GenerateRequest): Promise<Manifest> {
  const job = await startJob(request);
  let opened: Opened | undefined;
  try {
    throwIfAborted(job.signal);
    job.report('probe', 0);
    opened = await open(job, request);
    const { video } = opened;
    assertUsableFacts(video.facts);
    checkLimits(video.facts, job.limits);
    job.report('probe', 1);

    throwIfAborted(job.signal);
    job.report('frames', 0);
    const outputs = await planOutputs(plannerContext(job, video.facts));
    const plan = await job.timed('plan', () => planJobFrames(video, outputs.branches, job.signal));
    const route = await chooseDecodeRoute(video, plan, outputs.branches, request.decodeRoute);
    const decoded = await runDecode({
      video,
      plan,
      route,
      branches: outputs.branches,
      best: outputs.best,
      work: job.work,
      limits: job.limits,
      signal: job.signal,
      timed: job.timed,
      onProgress: (within) => job.report('frames', within),
    });
    const files = await outputs.assemble(plan.outputs, decoded.chosen);
    job.report('frames', 1);

    const manifest = await writeManifest(job, opened, files, decoded.facts);
    await commit(job.staging, request.outDir, [...files.map((f) => f.file), 'manifest.json']);
    job.report('manifest', 1);
    return manifest;
  } catch (error) {
    throw stoppedJob(job, request, error);
  } finally {
    await opened?.video.dispose();
    await opened?.bytes.close();
    await rm(job.work, { recursive: true, force: true });
  }
}

/** One call of `generate`: its options and limits, its signal, folders, timings and progress. */
interface Job {
  started: number;
  options: GenerateOptions;
  limits: Limits;
  /** The caller's signal and the job's time limit. */
  signal: AbortSignal;
  jobTimeout: AbortSignal;
  /** The job's private temporary folder, and the outputs staged inside it until the commit. */
  work: string;
  staging: string;
  timings: Record<string, number>;
  timed: Timed;
  report: (phase: Phase, within: number) => void;
}

async function startJob(request: GenerateRequest): Promise<Job> {
  const started = performance.now();
  const options = parseGenerateOptions(request.options ?? {});
  const limits: Limits = { ...DEFAULT_LIMITS, ...request.limits };
  const jobTimeout = AbortSignal.timeout(limits.jobTimeoutMs);
  const signal = request.signal ? AbortSignal.any([request.signal, jobTimeout]) : jobTimeout;
  const timings: Record<string, number> = {};
  const work = await makeTempFolder(request.tempDir ?? tmpdir(), 'engine');
  const staging = join(work, 'out');
  await mkdir(staging);

  const total = PHASES.reduce((sum, p) => sum + PHASE_WEIGHTS[p], 0);
  const report = (phase: Phase, within: number) => {
    const before = PHASES.slice(0, PHASES.indexOf(phase)).reduce((sum, p) => sum + PHASE_WEIGHTS[p], 0);
    const fraction = (before + PHASE_WEIGHTS[phase] * Math.min(1, Math.max(0, within))) / total;
    request.onProgress?.({ phase, fraction: Math.round(fraction * 1000) / 1000 });
  };
  const timed: Timed = async (name, run) => {
    const t0 = performance.now();
    try {
      return await run();
    } finally {
      timings[name] = Math.round(performance.now() - t0);
    }
  };
  return { started, options, limits, signal, jobTimeout, work, staging, timings, timed, report };
}

/** The caller's stop and the job's time limit, told apart from what they interrupted. */
function stoppedJob(job: Job, request: GenerateRequest, error: unknown): unknown {
  if (request.signal?.aborted) {
    return new ThumbnailerError('E_CANCELED', 'The job was canceled.', { cause: error });
  }
  if (job.jobTimeout.aborted) {
    return new ThumbnailerError(
      'E_JOB_TIMEOUT',
      `The job ran longer than ${job.limits.jobTimeoutMs / 1000} s and was stopped.`,
      { cause: error },
    );
  }
  return error;
}

interface Opened {
  bytes: ByteSource;
  video: OpenVideo;
}

/** The input's bytes, and the video opened on them (index, probe, or a proxy). */
async function open(job: Job, request: GenerateRequest): Promise<Opened> {
  const bytes = await openByteSource(request.source, job.signal);
  try {
    const video = await job.timed('probe', () =>
      openVideo(bytes, { work: job.work, limits: job.limits, signal: job.signal }),
    );
    return { bytes, video };
  } catch (error) {
    await bytes.close();
    throw error;
  }
}

function checkLimits(facts: InputFacts, limits: Limits): void {
  if (facts.size > limits.maxInputBytes) {
    throw new ThumbnailerError(
      'E_LIMIT_EXCEEDED',
      `The input is ${facts.size} bytes, over the limit of ${limits.maxInputBytes}.`,
    );
  }
  if (facts.duration > limits.maxDurationSeconds) {
    throw new ThumbnailerError(
      'E_LIMIT_EXCEEDED',
      `The video lasts ${facts.duration} s, over the limit of ${limits.maxDurationSeconds} s.`,
    );
  }
  if (facts.width * facts.height > limits.maxPixels) {
    throw new ThumbnailerError(
      'E_LIMIT_EXCEEDED',
      `The picture is ${facts.width}x${facts.height}, over the limit of ${limits.maxPixels} pixels.`,
    );
  }
}

function plannerContext(job: Job, facts: InputFacts): OutputPlanContext {
  const { options, staging, work, signal, limits, timed } = job;
  return { facts, options, staging, work, signal, limits, timed };
}

/** The frame plan: each output's frames from the index, then their union. */
async function planJobFrames(
  video: OpenVideo,
  branches: PlannedBranch[],
  signal: AbortSignal,
): Promise<FramePlan> {
  const requests: OutputRequest[] = [];
  const decoded = new Set<number>();
  for (const b of branches) {
    throwIfAborted(signal);
    const picks = await video.index.pick(b.times, b.mode, b.preferShared ? decoded : undefined);
    for (const p of picks) decoded.add(p.frame.sequenceNumber);
    requests.push({ id: b.id, picks });
  }
  return planFrames(requests);
}

/** The manifest, with each file's size, staged beside the outputs. */
async function writeManifest(
  job: Job,
  { video, bytes }: Opened,
  outputs: OutputFile[],
  decode: DecodeFacts,
): Promise<Manifest> {
  for (const output of outputs) output.bytes = (await stat(join(job.staging, output.file))).size;
  job.timings.total = Math.round(performance.now() - job.started);
  const facts = video.facts;
  const manifest: Manifest = {
    version: 1,
    input: facts,
    options: job.options,
    route: video.route,
    decode,
    // A sequential pass has ffmpeg read the input file itself (up to the last frame needed).
    bytesRead:
      bytes.bytesRead() + (decode.route === 'sequential' && video.route === 'index' ? facts.size : 0),
    outputs,
    timings: job.timings,
    ffmpeg: { version: video.ffmpegVersion },
    generatedAt: new Date().toISOString(),
  };
  throwIfAborted(job.signal);
  await writeFile(join(job.staging, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
  return manifest;
}

/** Moves staged files into `outDir`, manifest last; on failure removes what it had moved. */
async function commit(staging: string, outDir: string, files: string[]): Promise<void> {
  await mkdir(outDir, { recursive: true });
  const moved: string[] = [];
  try {
    for (const file of files) {
      const target = join(outDir, file);
      const temp = join(outDir, `.${file}.${randomUUID().slice(0, 8)}.tmp`);
      try {
        await rename(join(staging, file), temp);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EXDEV') throw error;
        await copyFile(join(staging, file), temp);
      }
      await rename(temp, target);
      moved.push(target);
    }
  } catch (error) {
    await Promise.all(moved.map((path) => unlink(path).catch(() => undefined)));
    if ((await readdir(outDir).catch(() => ['?'])).length === 0) await rmdir(outDir).catch(() => undefined);
    throw new ThumbnailerError(
      'E_OUTPUT_FAILED',
      `Could not write the outputs to ${outDir}: ${(error as Error).message}`,
      { cause: error },
    );
  }
}
