import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { copyFile, mkdir, readdir, rename, rm, rmdir, stat, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ThumbnailerError } from '../errors.js';
import {
  ENCODINGS,
  animatedBranch,
  decodeJobArgs,
  encodedFramesBranch,
  rawFrameBytes,
  rawFramesBranch,
  stillFromRawArgs,
  scoringBranch,
  sheetBranch,
  type DecodeInput,
} from './compose.js';
import { failureReason, runFfmpeg } from './exec.js';
import {
  MARK_CODES,
  MAX_PLAN_OUTPUTS,
  MAX_SEQUENTIAL_MARKS,
  chooseRoute,
  planFrames,
  selectMarks,
  selectTimes,
  type DecodeRoute,
  type OutputRequest,
  type PlannedOutput,
} from './frameplan.js';
import {
  DEFAULT_LIMITS,
  parseGenerateOptions,
  type GenerateOptions,
  type Limits,
  type OutputKind,
} from './options.js';
import { planBifOutput } from './bif-output.js';
import type { OutputPlan, PlannedBranch } from './output-plan.js';
import { planStoryboardOutput } from './storyboard-output.js';
import { makeTempFolder } from './temp.js';
import { assertUsableFacts, missingDecoder } from './verdicts.js';
import { animatedClipTimes, fitSize, planStrip, posterCandidateTimes, posterWindowTimes } from './plan.js';
import { choosePoster } from './poster.js';
import { checkStillSize } from './still-format.js';
import { openVideo, type OpenVideo } from './video.js';
import { openByteSource, type ByteSource } from './source.js';
import type { DecodeFacts, GenerateRequest, InputFacts, Manifest, OutputFile } from './types.js';

/** Progress weights: opening the video (index, probe), then the one decode run for every output. */
const PHASE_WEIGHTS = { probe: 1, frames: 10, manifest: 0.2 } as const;
const PHASES = ['probe', 'frames', 'manifest'] as const;

/**
 * Makes every requested output of one video into `outDir`, `manifest.json` last. Outputs are built
 * in a private temporary folder and moved into `outDir` only when all of them succeeded, so a failed
 * or canceled job leaves nothing behind (and its temporary folder is always removed).
 */
export async function generate(request: GenerateRequest): Promise<Manifest> {
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
  const report = (phase: (typeof PHASES)[number], within: number) => {
    const before = PHASES.slice(0, PHASES.indexOf(phase)).reduce((sum, p) => sum + PHASE_WEIGHTS[p], 0);
    const fraction = (before + PHASE_WEIGHTS[phase] * Math.min(1, Math.max(0, within))) / total;
    request.onProgress?.({ phase, fraction: Math.round(fraction * 1000) / 1000 });
  };
  const timed = async <T>(name: string, run: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    try {
      return await run();
    } finally {
      timings[name] = Math.round(performance.now() - t0);
    }
  };

  let video: OpenVideo | undefined;
  let bytes: ByteSource | undefined;
  try {
    throwIfAborted(signal);
    report('probe', 0);
    bytes = await openByteSource(request.source, signal);
    const source = bytes;
    video = await timed('probe', () => openVideo(source, { work, limits, signal }));
    const facts = video.facts;
    assertUsableFacts(facts);
    checkLimits(facts, limits);
    report('probe', 1);

    throwIfAborted(signal);
    report('frames', 0);
    const opened = video;
    const { outputs, decode } = await makeOutputs({
      video: opened,
      options,
      limits,
      work,
      staging,
      signal,
      timed,
      forceRoute: request.decodeRoute,
      onProgress: (within) => report('frames', within),
    });
    report('frames', 1);

    for (const output of outputs) output.bytes = (await stat(join(staging, output.file))).size;
    timings.total = Math.round(performance.now() - started);
    const manifest: Manifest = {
      version: 1,
      input: facts,
      options,
      route: video.route,
      decode,
      // A sequential pass has ffmpeg read the input file itself (up to the last frame needed).
      bytesRead:
        bytes.bytesRead() + (decode.route === 'sequential' && video.route === 'index' ? facts.size : 0),
      outputs,
      timings,
      ffmpeg: { version: video.ffmpegVersion },
      generatedAt: new Date().toISOString(),
    };
    throwIfAborted(signal);
    await writeFile(join(staging, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
    await commit(staging, request.outDir, [...outputs.map((o) => o.file), 'manifest.json']);
    report('manifest', 1);
    return manifest;
  } catch (error) {
    if (request.signal?.aborted)
      throw new ThumbnailerError('E_CANCELED', 'The job was canceled.', { cause: error });
    if (jobTimeout.aborted) {
      throw new ThumbnailerError(
        'E_FFMPEG_TIMEOUT',
        `The job ran longer than ${limits.jobTimeoutMs / 1000} s and was stopped.`,
        { cause: error },
      );
    }
    throw error;
  } finally {
    await video?.dispose();
    await bytes?.close();
    await rm(work, { recursive: true, force: true });
  }
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new ThumbnailerError('E_CANCELED', 'The job was canceled.');
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

/** A decoder that exits with an error on our own selection file means the video's data is bad. */
function classifyDecodeError(error: unknown): unknown {
  if (!ThumbnailerError.is(error) || error.code !== 'E_FFMPEG_FAILED') return error;
  const refused = missingDecoder(error);
  if (refused) return refused;
  const tail = 'stderrTail' in error ? String(error.stderrTail) : '';
  if (
    /Invalid data|corrupt|error while decoding|non-existing PPS|decode_slice|Invalid NAL|no frame|missing picture|Could not find ref/i.test(
      tail + error.message,
    )
  ) {
    return new ThumbnailerError('E_CORRUPT_VIDEO', `The video cannot be decoded: ${failureReason(error)}`, {
      cause: error,
    });
  }
  return error;
}

interface OutputContext {
  video: OpenVideo;
  options: GenerateOptions;
  limits: Limits;
  /** The job's private temporary folder. */
  work: string;
  /** Where outputs are staged until the job commits. */
  staging: string;
  signal: AbortSignal;
  timed: <T>(name: string, run: () => Promise<T>) => Promise<T>;
  forceRoute?: 'auto' | DecodeRoute;
  onProgress: (within: number) => void;
}

const ANIMATED_FPS = 10;
/** Poster candidates, scored on small grey versions. */
const SCORING_WIDTH = 64;
/** The poster candidates in the job's temporary folder: uncompressed, or one JPEG each. */
const POSTER_CANDIDATES = 'poster-candidates.raw';
const POSTER_CANDIDATE_FILES = 'poster-%02d.jpg';
/** Candidate `index`'s file, as ffmpeg names it from `POSTER_CANDIDATE_FILES`. */
const posterCandidate = (index: number) =>
  POSTER_CANDIDATE_FILES.replace('%02d', String(index).padStart(2, '0'));

/**
 * Every requested output from one frame plan and one ffmpeg run: the outputs' frame requests are
 * resolved against the index, merged (each source frame decoded once), and decoded by the cheaper
 * of the seek route (a selection file of the segments needed) and one sequential pass over the file.
 */
async function makeOutputs(job: OutputContext): Promise<{ outputs: OutputFile[]; decode: DecodeFacts }> {
  const { video, options, limits, work, staging, signal, timed } = job;
  const facts = video.facts;
  const wants = (kind: OutputKind) => options.outputs.includes(kind);
  const branches: PlannedBranch[] = [];
  const results: ((
    plan: PlannedOutput[],
    posterIndex: number | undefined,
  ) => OutputFile[] | Promise<OutputFile[]>)[] = [];

  if (wants('strip')) {
    const plan = planStrip(facts, options);
    checkStillSize(options.format, plan.size, 'strip');
    const encoding = ENCODINGS.sheet(options.quality, options.format);
    const file = `strip.${encoding.extension}`;
    const index = branches.length;
    branches.push({
      id: 'strip',
      times: plan.times,
      mode: options.mode,
      width: plan.tile.width,
      branch: (select) => [sheetBranch(select, facts, plan.tile, options, join(staging, file), 'one')],
    });
    results.push((planned) => [
      {
        kind: 'strip',
        file,
        bytes: 0,
        contentType: encoding.contentType,
        ...plan.size,
        tiles: plan.times.length,
        times: planned[index]!.times,
      },
    ]);
  }

  /** An output planned in its own module: its branches join the run, its files come after it. */
  const adopt = (planned: OutputPlan) => {
    const first = branches.length;
    branches.push(...planned.branches);
    results.push((all) => planned.finish(all.slice(first, first + planned.branches.length)));
  };
  const planContext = { facts, options, staging, work };
  if (wants('storyboard')) adopt(await planStoryboardOutput(planContext));

  let posterBranch: number | undefined;
  const posterSize = fitSize(facts, { width: Math.min(options.posterWidth, facts.displayWidth) });
  const posterEncoding = ENCODINGS.poster(options.format);
  // JPEG candidates are encoded in the run; WebP ones are kept raw and only the winner encoded.
  const encodeEachCandidate = posterEncoding.extension === 'jpg';
  if (wants('poster')) {
    posterBranch = branches.length;
    branches.push({
      id: 'poster',
      // Asked for at a time: the best of the second either side of it.
      times:
        options.posterTime === undefined
          ? posterCandidateTimes(facts.duration)
          : posterWindowTimes(facts.duration, options.posterTime),
      mode: options.mode,
      width: posterSize.width,
      branch: (select) => [
        encodeEachCandidate
          ? encodedFramesBranch(select, facts, posterSize, posterEncoding, join(work, POSTER_CANDIDATE_FILES))
          : rawFramesBranch(select, facts, posterSize, posterEncoding, join(work, POSTER_CANDIDATES)),
      ],
    });
    const index = posterBranch;
    results.push((planned, chosen) => [
      {
        kind: 'poster',
        file: `poster.${posterEncoding.extension}`,
        bytes: 0,
        contentType: posterEncoding.contentType,
        ...posterSize,
        times: [planned[index]!.times[chosen ?? 0] ?? 0],
      },
    ]);
  }

  if (wants('animated')) {
    const size = fitSize(facts, { width: Math.min(options.animatedWidth, facts.displayWidth) });
    const encoding = ENCODINGS.animated(options.animatedFormat);
    const file = `preview.${encoding.extension}`;
    branches.push({
      id: 'animated',
      times: animatedClipTimes(facts.duration, 6, 1, ANIMATED_FPS),
      mode: 'accurate',
      width: size.width,
      branch: (select) => [
        animatedBranch(select, facts, size, options.animatedFormat, ANIMATED_FPS, join(staging, file)),
      ],
    });
    results.push(() => [{ kind: 'animated', file, bytes: 0, contentType: encoding.contentType, ...size }]);
  }

  if (wants('bif')) adopt(planBifOutput(planContext));

  // At most six requests (strip, two storyboard groups, poster, animated, bif): the storyboard's
  // extra widths share their group's request.
  if (branches.length > MAX_PLAN_OUTPUTS) {
    throw new ThumbnailerError('E_INTERNAL', `A frame plan feeds at most ${MAX_PLAN_OUTPUTS} outputs.`);
  }
  // The frame plan: each output's frames from the index, then their union.
  const plan = await timed('plan', async () => {
    const requests: OutputRequest[] = [];
    const decoded = new Set<number>();
    for (const b of branches) {
      throwIfAborted(signal);
      const picks = await video.index.pick(b.times, b.mode, b.preferShared ? decoded : undefined);
      for (const p of picks) decoded.add(p.frame.sequenceNumber);
      requests.push({ id: b.id, picks });
    }
    return planFrames(requests);
  });
  const lastMark = plan.marks.reduce((t, m) => Math.max(t, m.frame.timestamp), -Infinity);
  const keyframes =
    video.local && plan.marks.every((m) => m.keyframeOnly)
      ? await video.index.keyframesUpTo(lastMark, MAX_SEQUENTIAL_MARKS * 10)
      : undefined;
  const choice = chooseRoute(plan, {
    frameRate: video.frameRate,
    firstTimestamp: video.index.start,
    keyframesToLastMark: keyframes,
    sequentialPossible: video.local !== undefined,
  });

  // Keyframes alone, each shown at half its size or less (a strip or storyboard without the poster):
  // the deblocking filter, a fifth of an H.264 keyframe's decode, then changes the tiles by less
  // than the eye sees (PSNR 51 dB at 600 px from an 800 kbps 1080p video), and no decoded frame
  // refers to another, so nothing drifts.
  const skipLoopFilter =
    plan.marks.every((m) => m.keyframeOnly) && branches.every((b) => 2 * b.width <= facts.displayWidth);

  const scoringSize = fitSize(facts, { width: SCORING_WIDTH });
  const frameBytes = scoringSize.width * scoringSize.height;
  const posterMarks = posterBranch === undefined ? [] : plan.outputs[posterBranch]!.marks;
  const posterFile = join(staging, `poster.${posterEncoding.extension}`);
  const candidatesPath = join(work, POSTER_CANDIDATES);
  /**
   * Scores the candidates' grey frames, then keeps the winner's JPEG, or encodes the winner from
   * the raw candidates file.
   */
  const makePoster = async (grey: Uint8Array[], written: (bytes: number) => Promise<void>) => {
    const frames = posterMarks.map((m) => grey[m]).filter((f): f is Uint8Array => f !== undefined);
    const index = frames.length > 0 ? choosePoster(frames).index : 0;
    if (encodeEachCandidate) {
      await rename(join(work, posterCandidate(index)), posterFile).catch(() => undefined);
      return index;
    }
    await written((index + 1) * rawFrameBytes(posterSize, posterEncoding));
    await timed('poster', () =>
      runFfmpeg(stillFromRawArgs(candidatesPath, posterSize, posterEncoding, index, posterFile), {
        signal,
        timeoutMs: limits.ffmpegTimeoutMs,
        stallTimeoutMs: limits.ffmpegStallTimeoutMs,
      }),
    );
    return index;
  };

  interface Decoded {
    frames: Uint8Array[];
    decodedFrames: number;
    /** The poster, chosen and encoded once its last candidate was out, while the run went on. */
    poster?: Promise<number>;
  }
  const run = async (route: DecodeRoute): Promise<Decoded> => {
    let input: DecodeInput;
    let selects: string[];
    let anyMark: string;
    /** The selection file, for ffmpeg's stdin once written (the seek route). */
    let selection: { feed: PassThrough; written: Promise<{ packets: number }> } | undefined;
    const stop = new AbortController();
    const runSignal = AbortSignal.any([signal, stop.signal]);
    if (route === 'sequential') {
      const local = video.local!;
      const fps = video.frameRate > 0 ? video.frameRate : 25;
      // Half a frame either way: the frame itself and never its neighbour.
      const tolerance = 0.45 / fps;
      const timesOf = (output: number) =>
        plan.marks.flatMap((m) => (m.outputs.includes(output) ? [m.frame.timestamp] : []));
      selects = branches.map((_, i) => selectTimes(timesOf(i), tolerance));
      anyMark = selectTimes(
        plan.marks.map((m) => m.frame.timestamp),
        tolerance,
      );
      input = {
        kind: 'source',
        path: local.path,
        demuxer: local.demuxer,
        keyframesOnly: choice.keyframesOnly,
        skipLoopFilter,
        readSeconds: lastMark - Math.min(0, video.index.start) + 2 / fps,
      };
    } else {
      // ffmpeg starts now and spends its first 0.1 s or so loading its libraries, while the
      // selection file is written; then the file streams to its stdin. The file stays the
      // buffer: memory does not grow with the selection.
      const path = join(work, 'selection.mkv');
      const feed = new PassThrough();
      const written = timed('select', () => video.index.writePlan(path, plan, signal));
      written.then(
        // A pipe closed early means ffmpeg is gone: its exit says why.
        () => pipeline(createReadStream(path), feed).catch(() => undefined),
        () => {
          stop.abort();
          feed.destroy();
        },
      );
      selection = { feed, written };
      selects = branches.map((_, i) => selectMarks(1 << i));
      anyMark = selectMarks(MARK_CODES - 1);
      input = { kind: 'selection', path: 'stdin', skipLoopFilter };
    }
    // Only the poster candidates are scored; every other mark's grey frame is only counted.
    const scored =
      posterBranch === undefined
        ? 'none'
        : posterMarks.length === plan.marks.length
          ? 'all'
          : selects[posterBranch]!;
    const all = [
      scoringBranch(anyMark, facts, scoringSize, scored),
      ...branches.flatMap((b, i) => b.branch(selects[i]!)),
    ];
    // Marks come out in time order, one small grey frame each. On a sequential pass, once the last
    // poster candidate is out (at 90% of the video), a WebP poster is encoded from its raw frame
    // while the run decodes the rest of the file (JPEG candidates come out encoded). The seek
    // route has little left to decode by then, and holds every output's buffers at once: a second
    // ffmpeg beside it took the default outputs of the 60-minute video from 283 to 310 MB
    // (node + ffmpeg), over the 300 MB target.
    const grey = new GreyFrames(frameBytes);
    const lastCandidate =
      route === 'sequential' && !encodeEachCandidate && posterMarks.length > 0
        ? Math.max(...posterMarks)
        : undefined;
    let poster: Promise<number> | undefined;
    let runDone = false;
    const candidatesWritten = (bytes: number) => fileReaches(candidatesPath, bytes, () => runDone, signal);
    const decode = timed('decode', () =>
      runFfmpeg(decodeJobArgs(input, all, limits), {
        signal: runSignal,
        stdin: selection?.feed,
        timeoutMs: limits.ffmpegTimeoutMs,
        stallTimeoutMs: limits.ffmpegStallTimeoutMs,
        onStdout: (chunk, total) => {
          grey.push(chunk);
          job.onProgress(total / frameBytes / Math.max(1, plan.marks.length));
          if (poster === undefined && lastCandidate !== undefined && grey.count > lastCandidate) {
            poster = makePoster(grey.frames(), candidatesWritten);
            // Awaited below; until then a failure must not count as unhandled.
            poster.catch(() => undefined);
          }
        },
        maxStdoutBytes: frameBytes * plan.marks.length * 2 + frameBytes,
      }).catch((error: unknown) => {
        throw classifyDecodeError(error);
      }),
    ).finally(() => {
      runDone = true;
      selection?.feed.destroy();
    });
    try {
      await decode;
    } catch (error) {
      await poster?.catch(() => undefined);
      // A selection that could not be written (an oversized sample, a storage outage) stopped the
      // run: that is the failure to report, not ffmpeg's being stopped.
      const unwritten = await selection?.written.then(
        () => undefined,
        (failure: unknown) => failure,
      );
      throw unwritten ?? error;
    }
    const decodedFrames = selection ? (await selection.written).packets : (choice.sequentialFrames ?? 0);
    return { frames: grey.frames(), decodedFrames, poster };
  };

  let route: DecodeRoute =
    job.forceRoute === 'seek' || (job.forceRoute === 'sequential' && video.local)
      ? job.forceRoute
      : choice.route;
  if (route === 'sequential' && plan.repeats) route = 'seek';
  let decoded = await run(route);
  if (route === 'sequential' && decoded.frames.length !== plan.marks.length) {
    // The file's own timestamps did not match the index's: the seek route never depends on them.
    await decoded.poster?.catch(() => undefined);
    route = 'seek';
    decoded = await run(route);
  }
  if (posterBranch !== undefined && decoded.frames.length === 0) {
    await decoded.poster?.catch(() => undefined);
    throw new ThumbnailerError('E_CORRUPT_VIDEO', 'No frame of the video could be decoded for the poster.');
  }

  let chosen: number | undefined;
  if (posterBranch !== undefined) {
    // Made during the run, or now from whatever candidates came out.
    chosen = await (decoded.poster ?? makePoster(decoded.frames, async () => undefined));
    if (!(await stat(posterFile).catch(() => undefined))?.size) {
      throw new ThumbnailerError('E_CORRUPT_VIDEO', 'The poster frame could not be decoded.');
    }
  }
  const outputs: OutputFile[] = [];
  for (const make of results) outputs.push(...(await make(plan.outputs, chosen)));
  return {
    outputs,
    decode: {
      route,
      decodedFrames: decoded.decodedFrames,
      frames: plan.marks.length,
      segments: plan.segments.length,
      keyframesOnly: route === 'sequential' ? choice.keyframesOnly : plan.marks.every((m) => m.keyframeOnly),
      estimate: {
        seekFrames: choice.seekFrames,
        sequentialFrames: choice.sequentialFrames,
        seekCost: choice.seekCost,
        sequentialCost: choice.sequentialCost,
      },
    },
  };
}

/** The run's small grey frames, one per mark, gathered from stdout as ffmpeg writes them. */
class GreyFrames {
  private readonly chunks: Buffer[] = [];
  private bytes = 0;
  constructor(private readonly frameBytes: number) {}
  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.bytes += chunk.length;
  }
  /** Whole frames so far. */
  get count(): number {
    return Math.floor(this.bytes / this.frameBytes);
  }
  frames(): Uint8Array[] {
    const all = Buffer.concat(this.chunks);
    this.chunks.splice(0, this.chunks.length, all);
    const frames: Uint8Array[] = [];
    for (let offset = 0; offset + this.frameBytes <= all.length; offset += this.frameBytes) {
      frames.push(all.subarray(offset, offset + this.frameBytes));
    }
    return frames;
  }
}

/**
 * Resolves once `path` holds `bytes`, or once the process writing it has ended (`ended`): the
 * frame a reader needs is then in the file, or never will be.
 */
async function fileReaches(
  path: string,
  bytes: number,
  ended: () => boolean,
  signal: AbortSignal,
): Promise<void> {
  for (;;) {
    const done = ended();
    if (((await stat(path).catch(() => undefined))?.size ?? 0) >= bytes || done) return;
    throwIfAborted(signal);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
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
