import childProcess from 'node:child_process';
import fs, { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { checkMp4IndexSize } from '../../src/engine/index-caps.js';
import { DEFAULT_LIMITS, type Limits } from '../../src/engine/options.js';
import { evenlySpacedTimes } from '../../src/engine/plan.js';
import { planFrames, type FramePlan, type PickedFrame } from '../../src/engine/frameplan.js';
import { SNIFF_BYTES, sniffContainer } from '../../src/engine/sniff.js';
import { openByteSource, type ByteSource } from '../../src/engine/source.js';
import { openTrackIndex, openVideo } from '../../src/engine/video.js';
import { ThumbnailerError } from '../../src/errors.js';
import { check, ContractBroken, expectCoded, Tally, type FuzzTarget } from '../target.js';

/**
 * Mutated MP4, QuickTime, fragmented MP4, Matroska, WebM and MPEG-TS files (cut from the fixture:
 * fuzz/corpus/media) through the engine's container-index path, with small caps (index 1 MiB,
 * sample 128 KiB).
 * - Every input (the bulk, no ffmpeg): the bytes are a ranged source that can read only them
 *   (openByteSource); sniffContainer, the moov size check, mediabunny's demuxer through the capped
 *   demuxer source (openTrackIndex), the duration, the frame picks of a strip (fast) and of a
 *   storyboard (accurate), planFrames, and the selection file written by writePlan.
 * - One input in 64: the whole openVideo on a local copy, with ffprobe (and ffmpeg for the remux
 *   route of MPEG-TS and any container the index cannot serve).
 * Contract: a plan (whose invariants hold) and a selection file, or a ThumbnailerError with a code
 * (not E_INTERNAL). A demuxer exception while opening is what openVideo hands to ffmpeg: counted,
 * allowed; a non-coded exception thrown in src/, or after the open, is a failure. Within 20 s an
 * input (60 s through ffmpeg); external memory (array buffers) never more than 24 MiB over the
 * start of the input, sampled at every read; no read past the caps; no file opened but the run's
 * own scratch files, and no child process in the bulk path (ffprobe and ffmpeg in the share only,
 * each with its protocol and format whitelists, reading only the input's copy).
 */

const LIMITS: Limits = {
  ...DEFAULT_LIMITS,
  maxIndexBytes: 1024 * 1024,
  maxSampleBytes: 128 * 1024,
  maxInputBytes: 1024 * 1024,
  maxTempBytes: 64 * 1024 * 1024,
  ffmpegTimeoutMs: 30_000,
  ffmpegStallTimeoutMs: 15_000,
};
/** mediabunny's read cache (4 MiB for exact reads), the index and a few samples, with room for GC. */
const MEMORY_BOUND = 24 * 1024 * 1024;
// A hostile file stopped by the stuck-read guard takes a few seconds of a busy machine.
const BULK_MS = 20_000;
const WHOLE_MS = 60_000;
const WHOLE_SHARE = 64;
/** Demuxer errors at open are handed to ffmpeg by openVideo; those thrown from our code are not. */
const OUR_CODE = resolve('src');

const tally = new Tally();
let scratch = '';
let inputs = 0;
const opened: string[] = [];
const spawned: { file: string; args: readonly string[] }[] = [];

/** Records every file opened and every process started, however the code reaches them. */
function traceFilesAndProcesses(): void {
  const record = (path: unknown) => {
    if (typeof path === 'string' || path instanceof URL || Buffer.isBuffer(path)) opened.push(String(path));
  };
  const promises = fs.promises as { open: (...a: unknown[]) => unknown };
  const openPromise = promises.open;
  promises.open = (path: unknown, ...rest: unknown[]) => (record(path), openPromise(path, ...rest));
  const f = fs as unknown as Record<'open' | 'openSync', (...a: unknown[]) => unknown>;
  const open = f.open;
  const openSync = f.openSync;
  f.open = (path: unknown, ...rest: unknown[]) => (record(path), open(path, ...rest));
  f.openSync = (path: unknown, ...rest: unknown[]) => (record(path), openSync(path, ...rest));
  const cp = childProcess as unknown as Record<'spawn', (...a: unknown[]) => unknown>;
  const spawn = cp.spawn;
  cp.spawn = (file: unknown, args: unknown, ...rest: unknown[]) => {
    spawned.push({ file: String(file), args: Array.isArray(args) ? args.map(String) : [] });
    return spawn(file, args, ...rest);
  };
  syncBuiltinESMExports();
}

/** A source over the input's bytes and nothing else, sampling external memory at every read. */
async function memorySource(input: Uint8Array, sample: () => void): Promise<ByteSource> {
  return openByteSource({
    kind: 'ranged',
    name: 'fuzz-input',
    size: input.length,
    read: async (start, end) => {
      check(
        start >= 0 && end <= input.length && start <= end,
        `a read of [${start}, ${end}) outside ${input.length} bytes`,
      );
      sample();
      return input.slice(start, end);
    },
  });
}

const fromOurCode = (error: unknown) =>
  error instanceof Error &&
  !ThumbnailerError.is(error) &&
  (error.stack ?? '').split('\n')[1]?.includes(OUR_CODE);

function checkPlan(plan: FramePlan, requests: PickedFrame[][]): void {
  check(plan.outputs.length === requests.length, 'one planned output per request');
  plan.outputs.forEach((output, i) => {
    check(
      output.marks.length === requests[i]!.length && output.times.length === requests[i]!.length,
      `output ${i} gets one frame per time`,
    );
    for (const m of output.marks) check(plan.marks[m]?.outputs.includes(i), `mark ${m} feeds output ${i}`);
  });
  const inSegments = plan.segments.flatMap((s) => s.marks).sort((a, b) => a - b);
  check(
    inSegments.length === plan.marks.length && inSegments.every((m, i) => m === i),
    'every mark is in exactly one segment',
  );
  for (const mark of plan.marks) check(Number.isFinite(mark.actual), `a mark at time ${mark.actual}`);
}

/** The bulk: our index path and mediabunny's demuxer, no ffmpeg. */
async function throughIndex(input: Uint8Array, sample: () => void, work: string): Promise<string> {
  const bytes = await memorySource(input, sample);
  const head = await bytes.read(0, Math.min(SNIFF_BYTES, bytes.size));
  const container = sniffContainer(head, bytes.size);
  if (!container.indexed) return `not-indexed-${container.label}`;
  if (container.demuxer === 'mov') await checkMp4IndexSize(bytes.read, bytes.size, LIMITS.maxIndexBytes);
  let track;
  let end: number;
  try {
    track = await openTrackIndex(bytes.demuxerSource(LIMITS.maxIndexBytes), LIMITS.maxSampleBytes);
    if (!track) return 'no-copyable-track';
    // The duration is part of the open in openVideo, whose failures go to ffmpeg likewise.
    end =
      (await track.track.getDurationFromMetadata().catch(() => null)) ??
      (await track.track.computeDuration());
  } catch (error) {
    track?.input.dispose();
    if (ThumbnailerError.is(error) || fromOurCode(error) || !(error instanceof Error)) throw error;
    // openVideo hands such a file to ffmpeg: allowed, counted.
    return 'demuxer-refused';
  }
  try {
    const duration = Math.max(0, end - track.start);
    // generate() and the frame service refuse such a video (assertUsableFacts: E_CORRUPT_VIDEO).
    if (!Number.isFinite(duration)) return 'duration-refused';
    const strip = await track.index.pick(evenlySpacedTimes(duration, 10), 'fast');
    const storyboard = await track.index.pick(evenlySpacedTimes(duration, 6), 'accurate');
    const plan = planFrames([
      { id: 'strip', picks: strip },
      { id: 'storyboard', picks: storyboard },
    ]);
    checkPlan(plan, [strip, storyboard]);
    const written = await track.index.writePlan(join(work, 'selection.mkv'), plan);
    check(written.packets >= plan.marks.length || plan.marks.length === 0, 'the selection holds every mark');
    return 'planned';
  } finally {
    track.input.dispose();
  }
}

/** The share: the whole openVideo on a local copy, ffprobe and ffmpeg included. */
async function throughOpenVideo(input: Uint8Array, work: string): Promise<string> {
  const path = join(work, 'input');
  writeFileSync(path, input);
  const bytes = await openByteSource({ kind: 'file', path });
  try {
    const video = await openVideo(bytes, { work, limits: LIMITS });
    await video.dispose();
    return `opened-${video.route}`;
  } finally {
    await bytes.close();
  }
}

async function runOne(input: Uint8Array): Promise<void> {
  const whole = inputs++ % WHOLE_SHARE === WHOLE_SHARE - 1;
  try {
    await runOnce(input, whole);
  } catch (error) {
    // Over the time bound on a busy machine, or over the memory bound while an earlier input's
    // buffers wait for a collection (a WebM held 29 MiB 97 000 inputs into a run, within it alone):
    // the bound holds if one more run, after a collection, keeps it.
    const retried = error instanceof ContractBroken && / (took|held) /.test(error.message);
    if (!retried) throw error;
    collectGarbage();
    await runOnce(input, whole);
  }
}

setFlagsFromString('--expose-gc');
/** A full collection, so that a run's memory is its own (V8's `gc`, exposed for this thread). */
const collectGarbage = runInNewContext('gc') as () => void;

async function runOnce(input: Uint8Array, whole: boolean): Promise<void> {
  // The bulk writes its selection file in the run's folder; openVideo gets a folder of its own.
  const work = whole ? mkdtempSync(join(scratch, 'in-')) : scratch;
  opened.length = 0;
  spawned.length = 0;
  // This thread's external memory: its array buffers (process.memoryUsage() costs 4x as much).
  const external = () => getHeapStatistics().external_memory;
  const base = external();
  let peak = 0;
  const sample = () => {
    peak = Math.max(peak, external() - base);
  };
  const t0 = performance.now();
  let outcome: string;
  try {
    outcome = whole ? await throughOpenVideo(input, work) : await throughIndex(input, sample, work);
  } catch (error) {
    if (error instanceof ContractBroken) throw error;
    outcome = expectCoded(error).code;
  } finally {
    if (whole) rmSync(work, { recursive: true, force: true });
  }
  sample();
  const ms = performance.now() - t0;
  const what = `${whole ? 'openVideo' : 'index path'} (${outcome})`;
  check(ms <= (whole ? WHOLE_MS : BULK_MS), `${what} took ${Math.round(ms)} ms`);
  check(
    peak <= MEMORY_BOUND,
    `${what} held ${Math.round(peak / 2 ** 20)} MiB of array buffers (bound ${MEMORY_BOUND / 2 ** 20} MiB)`,
  );
  const outside = opened.filter((p) => !resolve(p.replace(/^file:(\/\/)?/, '')).startsWith(work));
  check(outside.length === 0, `${what} opened ${outside.join(', ')}`);
  if (!whole) check(spawned.length === 0, `the index path started ${spawned.map((s) => s.file).join(', ')}`);
  for (const s of spawned) {
    const after = (flag: string) => s.args[s.args.indexOf(flag) + 1];
    const inputs = s.args.filter((a) => a.startsWith('file:')).map((a) => resolve(a.slice('file:'.length)));
    check(
      s.args.includes('-protocol_whitelist') &&
        s.args.includes('-format_whitelist') &&
        /^(file|pipe)(,(file|pipe))*$/.test(after('-protocol_whitelist') ?? ''),
      `${what} ran ${s.file} without its whitelists: ${s.args.join(' ')}`,
    );
    check(
      inputs.every((p) => p.startsWith(work)),
      `${what} had ${s.file} read ${inputs.join(', ')}`,
    );
  }
  tally.add(whole ? `whole-${outcome}` : outcome);
  tally.add(whole ? 'ms-whole' : 'ms-bulk', Math.round(ms));
}

export const target: FuzzTarget = {
  name: 'media',
  summary:
    'mutated MP4/MOV/Matroska/WebM/MPEG-TS through the index path and frame plan (1 in 64 through openVideo with ffprobe): a plan or a coded error, bounded',
  coverage: ['/src/engine/', '/mediabunny/'],
  maxInputBytes: 256 * 1024,
  defaultSeconds: 30,
  hangSeconds: 90,
  dictionary: [
    'ftyp',
    'moov',
    'mvhd',
    'trak',
    'tkhd',
    'mdia',
    'mdhd',
    'minf',
    'stbl',
    'stsd',
    'avc1',
    'avcC',
    'hvcC',
    'av1C',
    'vpcC',
    'stts',
    'ctts',
    'stss',
    'stsc',
    'stsz',
    'stco',
    'co64',
    'edts',
    'elst',
    'mdat',
    'moof',
    'traf',
    'trun',
    'tfhd',
    'mvex',
    new Uint8Array([0x1a, 0x45, 0xdf, 0xa3]),
    new Uint8Array([0x18, 0x53, 0x80, 0x67]),
    new Uint8Array([0x1f, 0x43, 0xb6, 0x75]),
    new Uint8Array([0x1c, 0x53, 0xbb, 0x6b]),
    new Uint8Array([0x16, 0x54, 0xae, 0x6b]),
    new Uint8Array([0xa3]),
    new Uint8Array([0xa0]),
    new Uint8Array([0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
    new Uint8Array([0x47, 0x40, 0x00, 0x10]),
  ],
  generatedShare: 0,
  needsStacks: true,
  async setup() {
    scratch = mkdtempSync(join(tmpdir(), 'thumbnailer-fuzz-media-'));
    // mediabunny reports what it skips (unknown boxes, unreadable parameter sets) on the console.
    console.warn = () => undefined;
    console.error = () => undefined;
    traceFilesAndProcesses();
  },
  async teardown() {
    rmSync(scratch, { recursive: true, force: true });
  },
  run: runOne,
  stats: () => tally.get(),
};
