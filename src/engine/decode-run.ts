import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ThumbnailerError } from '../errors.js';
import { decodeJobArgs, scoringBranch, type DecodeInput } from './compose.js';
import { failureReason, runFfmpeg } from './exec.js';
import {
  MARK_CODES,
  MAX_SEQUENTIAL_MARKS,
  chooseRoute,
  selectMarks,
  selectTimes,
  type DecodeRoute,
  type FramePlan,
  type RouteChoice,
} from './frameplan.js';
import type { Limits } from './options.js';
import type { BestFrame, PlannedBranch, Timed } from './output-plan.js';
import { fitSize } from './plan.js';
import { choosePoster } from './poster.js';
import type { OpenVideo } from './video.js';
import { missingDecoder } from './verdicts.js';
import type { DecodeFacts } from './types.js';

/**
 * The job's one decode run: every output's frames, decoded once, by the seek route (a selection
 * file of the segments needed, streamed to ffmpeg's stdin as it is written) or one sequential pass
 * over the file; and the best-frame output (the poster) chosen from the run's grey frames, kept
 * during the run when that is worth it. Outputs take part through their branches only.
 */

/** Poster candidates, scored on small grey versions. */
const SCORING_WIDTH = 64;

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new ThumbnailerError('E_CANCELED', 'The job was canceled.');
}

/** How the plan's frames are decoded: the cost model's view and what was made of it. */
export interface RouteDecision {
  choice: RouteChoice;
  /** The route the run starts with (forced, or the cheaper one). */
  route: DecodeRoute;
  /** Skip the decoder's deblocking filter (see `chooseDecodeRoute`). */
  skipLoopFilter: boolean;
}

/**
 * The cheaper of seeking and one pass, unless `forceRoute` says (a sequential pass needs a local
 * file, and a plan showing a frame twice needs the seek route).
 */
export async function chooseDecodeRoute(
  video: OpenVideo,
  plan: FramePlan,
  branches: PlannedBranch[],
  forceRoute: 'auto' | DecodeRoute = 'auto',
): Promise<RouteDecision> {
  const keyframesOnly = plan.marks.every((m) => m.keyframeOnly);
  const keyframes =
    video.local && keyframesOnly
      ? await video.index.keyframesUpTo(lastMarkTime(plan), MAX_SEQUENTIAL_MARKS * 10)
      : undefined;
  const choice = chooseRoute(plan, {
    frameRate: video.frameRate,
    firstTimestamp: video.index.start,
    keyframesToLastMark: keyframes,
    sequentialPossible: video.local !== undefined,
  });
  let route: DecodeRoute =
    forceRoute === 'seek' || (forceRoute === 'sequential' && video.local) ? forceRoute : choice.route;
  if (route === 'sequential' && plan.repeats) route = 'seek';
  // Keyframes alone, each shown at half its size or less (a strip or storyboard without the poster):
  // the deblocking filter, a fifth of an H.264 keyframe's decode, then changes the tiles by less
  // than the eye sees (PSNR 51 dB at 600 px from an 800 kbps 1080p video), and no decoded frame
  // refers to another, so nothing drifts.
  const skipLoopFilter = keyframesOnly && branches.every((b) => 2 * b.width <= video.facts.displayWidth);
  return { choice, route, skipLoopFilter };
}

const lastMarkTime = (plan: FramePlan) =>
  plan.marks.reduce((t, m) => Math.max(t, m.frame.timestamp), -Infinity);

export interface DecodeJob {
  video: OpenVideo;
  plan: FramePlan;
  /** The frame plan's requests, in order, with the branches they feed. */
  branches: PlannedBranch[];
  /** The output made of the best of its request's frames, if one was asked for. */
  best?: { request: number; output: BestFrame };
  route: RouteDecision;
  /** The job's private temporary folder (the selection file). */
  work: string;
  limits: Limits;
  signal: AbortSignal;
  timed: Timed;
  /** Progress of the run, 0..1. */
  onProgress: (within: number) => void;
}

export interface DecodeOutcome {
  facts: DecodeFacts;
  /** The best-frame output's chosen candidate, when there is one. */
  chosen?: number;
}

/** One attempt's result: the grey frames, one per mark, and the best frame kept during the run. */
interface Attempt {
  frames: Uint8Array[];
  decodedFrames: number;
  kept?: Promise<number>;
}

/** Decodes every output's frames in one ffmpeg run, then keeps the best frame if not done yet. */
export async function runDecode(job: DecodeJob): Promise<DecodeOutcome> {
  const { plan, best } = job;
  let route = job.route.route;
  let attempt = await decodeOnce(job, route);
  if (route === 'sequential' && attempt.frames.length !== plan.marks.length) {
    // The file's own timestamps did not match the index's: the seek route never depends on them.
    await attempt.kept?.catch(() => undefined);
    route = 'seek';
    attempt = await decodeOnce(job, route);
  }
  let chosen: number | undefined;
  if (best) {
    if (attempt.frames.length === 0) {
      await attempt.kept?.catch(() => undefined);
      throw new ThumbnailerError(
        'E_CORRUPT_VIDEO',
        `No frame of the video could be decoded for the ${best.output.name}.`,
      );
    }
    // Kept during the run, or now from whatever candidates came out.
    chosen = await (attempt.kept ?? keepBest(job, attempt.frames, async () => undefined));
  }
  return { facts: decodeFacts(job, route, attempt.decodedFrames), chosen };
}

/** Chooses the best of the best-frame output's candidates by their grey frames, and keeps it. */
async function keepBest(
  job: DecodeJob,
  grey: Uint8Array[],
  flushed: (path: string, bytes: number) => Promise<void>,
): Promise<number> {
  const { request, output } = job.best!;
  const frames = job.plan.outputs[request]!.marks.map((m) => grey[m]).filter(
    (f): f is Uint8Array => f !== undefined,
  );
  const index = frames.length > 0 ? choosePoster(frames).index : 0;
  await output.keep(index, flushed);
  return index;
}

/** Where one attempt reads its frames, and each request's `select` (then any mark's). */
interface RunInput {
  input: DecodeInput;
  selects: string[];
  anyMark: string;
  /** The selection file, for ffmpeg's stdin once written (the seek route). */
  selection?: { feed: PassThrough; written: Promise<{ packets: number }> };
}

/** The source file itself, its marks selected by their times (as the index gives them). */
function sequentialInput(job: DecodeJob): RunInput {
  const { video, plan, branches } = job;
  const local = video.local!;
  const fps = video.frameRate > 0 ? video.frameRate : 25;
  // Half a frame either way: the frame itself and never its neighbour.
  const tolerance = 0.45 / fps;
  const timesOf = (output: number) =>
    plan.marks.flatMap((m) => (m.outputs.includes(output) ? [m.frame.timestamp] : []));
  return {
    selects: branches.map((_, i) => selectTimes(timesOf(i), tolerance)),
    anyMark: selectTimes(
      plan.marks.map((m) => m.frame.timestamp),
      tolerance,
    ),
    input: {
      kind: 'source',
      path: local.path,
      demuxer: local.demuxer,
      keyframesOnly: job.route.choice.keyframesOnly,
      skipLoopFilter: job.route.skipLoopFilter,
      readSeconds: lastMarkTime(plan) - Math.min(0, video.index.start) + 2 / fps,
    },
  };
}

/**
 * The selection file, streamed to ffmpeg's stdin. ffmpeg starts now and spends its first 0.1 s or
 * so loading its libraries, while the file is written; then the file streams to its stdin. The
 * file stays the buffer: memory does not grow with the selection. A selection that cannot be
 * written stops the run (`stop`).
 */
function seekInput(job: DecodeJob, stop: AbortController): RunInput {
  const path = join(job.work, 'selection.mkv');
  const feed = new PassThrough();
  const written = job.timed('select', () => job.video.index.writePlan(path, job.plan, job.signal));
  written.then(
    // A pipe closed early means ffmpeg is gone: its exit says why.
    () => pipeline(createReadStream(path), feed).catch(() => undefined),
    () => {
      stop.abort();
      feed.destroy();
    },
  );
  return {
    selection: { feed, written },
    selects: job.branches.map((_, i) => selectMarks(1 << i)),
    anyMark: selectMarks(MARK_CODES - 1),
    input: { kind: 'selection', path: 'stdin', skipLoopFilter: job.route.skipLoopFilter },
  };
}

async function decodeOnce(job: DecodeJob, route: DecodeRoute): Promise<Attempt> {
  const { video, plan, branches, best, limits, signal } = job;
  const stop = new AbortController();
  const { input, selects, anyMark, selection } =
    route === 'sequential' ? sequentialInput(job) : seekInput(job, stop);
  const scoringSize = fitSize(video.facts, { width: SCORING_WIDTH });
  const frameBytes = scoringSize.width * scoringSize.height;
  // Only the best frame's candidates are scored; every other mark's grey frame is only counted.
  const candidates = best ? plan.outputs[best.request]!.marks : [];
  const scored = !best ? 'none' : candidates.length === plan.marks.length ? 'all' : selects[best.request]!;
  const all = [
    scoringBranch(anyMark, video.facts, scoringSize, scored),
    ...branches.flatMap((b, i) => b.branch(selects[i]!)),
  ];
  // Marks come out in time order, one small grey frame each. On a sequential pass, once the last
  // candidate is out (at 90% of the video), a WebP poster is encoded from its raw frame while the
  // run decodes the rest of the file (JPEG candidates come out encoded). The seek route has little
  // left to decode by then, and holds every output's buffers at once: a second ffmpeg beside it
  // took the default outputs of the 60-minute video from 283 to 310 MB (node + ffmpeg), over the
  // 300 MB target.
  const grey = new GreyFrames(frameBytes);
  const lastCandidate =
    route === 'sequential' && best?.output.keepDuringRun && candidates.length > 0
      ? Math.max(...candidates)
      : undefined;
  let kept: Promise<number> | undefined;
  let runDone = false;
  const flushed = (path: string, bytes: number) => fileReaches(path, bytes, () => runDone, signal);
  const decode = job
    .timed('decode', () =>
      runFfmpeg(decodeJobArgs(input, all, limits), {
        signal: AbortSignal.any([signal, stop.signal]),
        stdin: selection?.feed,
        timeoutMs: limits.ffmpegTimeoutMs,
        stallTimeoutMs: limits.ffmpegStallTimeoutMs,
        onStdout: (chunk, total) => {
          grey.push(chunk);
          job.onProgress(total / frameBytes / Math.max(1, plan.marks.length));
          if (kept === undefined && lastCandidate !== undefined && grey.count > lastCandidate) {
            kept = keepBest(job, grey.frames(), flushed);
            // Awaited below; until then a failure must not count as unhandled.
            kept.catch(() => undefined);
          }
        },
        maxStdoutBytes: frameBytes * plan.marks.length * 2 + frameBytes,
      }).catch((error: unknown) => {
        throw classifyDecodeError(error);
      }),
    )
    .finally(() => {
      runDone = true;
      selection?.feed.destroy();
    });
  try {
    await decode;
  } catch (error) {
    await kept?.catch(() => undefined);
    // A selection that could not be written (an oversized sample, a storage outage) stopped the
    // run: that is the failure to report, not ffmpeg's being stopped.
    const unwritten = await selection?.written.then(
      () => undefined,
      (failure: unknown) => failure,
    );
    throw unwritten ?? error;
  }
  const decodedFrames = selection
    ? (await selection.written).packets
    : (job.route.choice.sequentialFrames ?? 0);
  return { frames: grey.frames(), decodedFrames, kept };
}

function decodeFacts(job: DecodeJob, route: DecodeRoute, decodedFrames: number): DecodeFacts {
  const { plan } = job;
  const { choice } = job.route;
  return {
    route,
    decodedFrames,
    frames: plan.marks.length,
    segments: plan.segments.length,
    keyframesOnly: route === 'sequential' ? choice.keyframesOnly : plan.marks.every((m) => m.keyframeOnly),
    estimate: {
      seekFrames: choice.seekFrames,
      sequentialFrames: choice.sequentialFrames,
      seekCost: choice.seekCost,
      sequentialCost: choice.sequentialCost,
    },
  };
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
