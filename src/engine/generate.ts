import { randomUUID } from 'node:crypto';
import { copyFile, mkdir, readdir, rename, rm, rmdir, stat, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ThumbnailerError } from '../errors.js';
import { animatedArgs, scoringFramesArgs, singleFrameArgs, tileSheetArgs } from './compose.js';
import { runFfmpeg, type RunOptions } from './exec.js';
import { makeTempFolder } from './temp.js';
import { assertUsableFacts, missingDecoder } from './verdicts.js';
import { DEFAULT_LIMITS, parseGenerateOptions, type GenerateOptions, type Limits } from './options.js';
import {
  animatedClipTimes,
  fitSize,
  planStoryboard,
  planStrip,
  posterCandidateTimes,
  storyboardJson,
  storyboardVtt,
  type Size,
} from './plan.js';
import { choosePoster } from './poster.js';
import type { SelectionMode } from './selection.js';
import { openVideo, type OpenVideo } from './video.js';
import { openByteSource, type ByteSource } from './source.js';
import type { GenerateRequest, InputFacts, Manifest, OutputFile, Phase } from './types.js';

const PHASE_WEIGHTS: Record<Phase, number> = {
  probe: 1,
  strip: 3,
  storyboard: 4,
  poster: 2,
  animated: 2,
  manifest: 0.2,
};

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

  const phases: Phase[] = ['probe', ...phaseOrder(options), 'manifest'];
  const total = phases.reduce((sum, p) => sum + PHASE_WEIGHTS[p], 0);
  const report = (phase: Phase, within: number) => {
    const before = phases.slice(0, phases.indexOf(phase)).reduce((sum, p) => sum + PHASE_WEIGHTS[p], 0);
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

    const job: JobContext = {
      facts,
      options,
      limits,
      staging,
      select: async (name, times, mode) => {
        const path = join(work, `${name}.mkv`);
        const { frames } = await video!.index.write(path, times, mode, signal);
        return { path, times: frames.map((f) => f.actual) };
      },
      ffmpeg: (phase, args, expectedFrames, extra = {}) =>
        runFfmpeg(args, {
          signal,
          timeoutMs: limits.ffmpegTimeoutMs,
          stallTimeoutMs: limits.ffmpegStallTimeoutMs,
          onFrames: (frames) => report(phase, frames / Math.max(1, expectedFrames)),
          ...extra,
        }).catch((error: unknown) => {
          throw classifyDecodeError(error);
        }),
    };

    const outputs: OutputFile[] = [];
    for (const phase of phaseOrder(options)) {
      throwIfAborted(signal);
      report(phase, 0);
      outputs.push(...(await timed(phase, () => MAKERS[phase](job))));
      report(phase, 1);
    }

    for (const output of outputs) output.bytes = (await stat(join(staging, output.file))).size;
    timings.total = Math.round(performance.now() - started);
    const manifest: Manifest = {
      version: 1,
      input: facts,
      options,
      route: video.route,
      bytesRead: bytes.bytesRead(),
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

function phaseOrder(options: GenerateOptions): (keyof typeof MAKERS)[] {
  return (['strip', 'storyboard', 'poster', 'animated'] as const).filter((p) => options.outputs.includes(p));
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
    return new ThumbnailerError(
      'E_CORRUPT_VIDEO',
      `The video cannot be decoded: ${error.message.replace(/^ffmpeg failed: /, '')}`,
      { cause: error },
    );
  }
  return error;
}

/** What an output maker needs: the facts, the options, and the job's selection and ffmpeg runs. */
interface JobContext {
  facts: InputFacts;
  options: GenerateOptions;
  limits: Limits;
  /** Where outputs are staged until the job commits. */
  staging: string;
  /** Writes a selection file for `times`; returns its path and the time of each frame it shows. */
  select(name: string, times: number[], mode: SelectionMode): Promise<{ path: string; times: number[] }>;
  ffmpeg(
    phase: Phase,
    args: string[],
    expectedFrames: number,
    extra?: RunOptions,
  ): Promise<{ stdout: Buffer }>;
}

type OutputMaker = (job: JobContext) => Promise<OutputFile[]>;

const makeStrip: OutputMaker = async ({ facts, options, limits, staging, select, ffmpeg }) => {
  const plan = planStrip(facts, options);
  const picked = await select('strip', plan.times, options.mode);
  await ffmpeg(
    'strip',
    tileSheetArgs(picked.path, facts, plan.tile, options, join(staging, 'strip.jpg'), limits),
    1,
  );
  return [
    {
      kind: 'strip',
      file: 'strip.jpg',
      bytes: 0,
      contentType: 'image/jpeg',
      ...plan.size,
      tiles: plan.times.length,
      times: picked.times,
    },
  ];
};

const makeStoryboard: OutputMaker = async ({ facts, options, limits, staging, select, ffmpeg }) => {
  const plan = planStoryboard(facts, options);
  const sheets: OutputFile[] = [];
  for (const [sheet, file] of plan.sheetFiles.entries()) {
    const tiles = plan.tiles.filter((t) => t.sheet === sheet);
    const picked = await select(
      `storyboard-${sheet}`,
      tiles.map((t) => t.time),
      options.mode,
    );
    const rows = plan.sheetRows[sheet]!;
    const spec = { cols: plan.cols, rows, padding: 0, margin: 0, color: 'black', quality: 5 };
    await ffmpeg(
      'storyboard',
      tileSheetArgs(picked.path, facts, plan.tile, spec, join(staging, file), limits),
      1,
    );
    sheets.push({
      kind: 'storyboard',
      file,
      bytes: 0,
      contentType: 'image/jpeg',
      width: plan.cols * plan.tile.width,
      height: rows * plan.tile.height,
      tiles: tiles.length,
      times: picked.times,
    });
  }
  await writeFile(join(staging, 'storyboard.vtt'), storyboardVtt(plan));
  await writeFile(join(staging, 'storyboard.json'), JSON.stringify(storyboardJson(plan), null, 2) + '\n');
  return [
    ...sheets,
    { kind: 'storyboard-vtt', file: 'storyboard.vtt', bytes: 0, contentType: 'text/vtt' },
    { kind: 'storyboard-json', file: 'storyboard.json', bytes: 0, contentType: 'application/json' },
  ];
};

/** Scores small grey versions of candidate frames, then renders the best one at full size. */
const makePoster: OutputMaker = async ({ facts, options, limits, staging, select, ffmpeg }) => {
  const candidates = posterCandidateTimes(facts.duration);
  const scoringSize: Size = fitSize(facts, { width: 64 });
  const picked = await select('poster-candidates', candidates, options.mode);
  const frameBytes = scoringSize.width * scoringSize.height;
  const { stdout } = await ffmpeg(
    'poster',
    scoringFramesArgs(picked.path, facts, scoringSize, limits),
    candidates.length * 2,
    {
      captureStdout: true,
      maxStdoutBytes: frameBytes * candidates.length * 2,
    },
  );
  const frames: Uint8Array[] = [];
  for (let offset = 0; offset + frameBytes <= stdout.length; offset += frameBytes) {
    frames.push(stdout.subarray(offset, offset + frameBytes));
  }
  if (frames.length === 0) {
    throw new ThumbnailerError('E_CORRUPT_VIDEO', 'No frame of the video could be decoded for the poster.');
  }
  const time = picked.times[choosePoster(frames).index] ?? 0;
  const size = fitSize(facts, { width: Math.min(options.posterWidth, facts.displayWidth) });
  const chosen = await select('poster', [time], 'accurate');
  await ffmpeg(
    'poster',
    singleFrameArgs(chosen.path, facts, size, 2, join(staging, 'poster.jpg'), limits),
    1,
  );
  return [
    { kind: 'poster', file: 'poster.jpg', bytes: 0, contentType: 'image/jpeg', ...size, times: [time] },
  ];
};

const ANIMATED_FPS = 10;

const makeAnimated: OutputMaker = async ({ facts, options, limits, staging, select, ffmpeg }) => {
  const times = animatedClipTimes(facts.duration, 6, 1, ANIMATED_FPS);
  const size = fitSize(facts, { width: Math.min(options.animatedWidth, facts.displayWidth) });
  const picked = await select('animated', times, 'accurate');
  const file = `preview.${options.animatedFormat}`;
  const args = animatedArgs(
    picked.path,
    facts,
    size,
    options.animatedFormat,
    ANIMATED_FPS,
    join(staging, file),
    limits,
  );
  await ffmpeg('animated', args, times.length);
  return [{ kind: 'animated', file, bytes: 0, contentType: `image/${options.animatedFormat}`, ...size }];
};

const MAKERS: Record<Exclude<Phase, 'probe' | 'manifest'>, OutputMaker> = {
  strip: makeStrip,
  storyboard: makeStoryboard,
  poster: makePoster,
  animated: makeAnimated,
};

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
