/**
 * Test videos made with ffmpeg's lavfi sources, each generated once into `.cache/media/` (git
 * ignored). A file's name carries a hash of its recipe, so changing a recipe makes a new file
 * instead of reusing a stale one; files are written under a temporary name and renamed, so test
 * files running in parallel never see half a video.
 *
 * Most videos show a "clock": testsrc2 (colour bars, a running timecode) with a wide white bar
 * crossing the picture once over the whole duration and a thin black bar crossing it every 1.6 s,
 * so that any two frames a fifth of a second apart look clearly different and a tile can be matched
 * to the time it shows.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { BUNDLED_FFMPEG, FFMPEG, FFPROBE } from './binaries.js';

const run = promisify(execFile);

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const MEDIA_DIR = join(REPO_ROOT, '.cache', 'media');
/** Real footage kept in the repository (provenance in test/fixtures/README.md). */
export const FIXTURES_DIR = join(REPO_ROOT, 'test', 'fixtures');
/** 7.6 s of a city at night (CC0), H.264 640x360, 25 fps, a keyframe every 2 s, no audio. */
export const CITY = join(FIXTURES_DIR, 'city-cc0.mp4');
/** A folder holding one video's default outputs (strip, poster, storyboard), as `readdir` sorts it. */
export const DEFAULT_OUTPUT_FILES = [
  'manifest.json',
  'poster.jpg',
  'storyboard.jpg',
  'storyboard.json',
  'storyboard.vtt',
  'strip.jpg',
];

export async function ffmpeg(args: string[]): Promise<void> {
  await run(FFMPEG, ['-hide_banner', '-nostdin', '-loglevel', 'error', '-y', ...args], {
    maxBuffer: 64 * 1024 * 1024,
  });
}

export async function ffprobe(path: string, args: string[]): Promise<Record<string, unknown>> {
  const { stdout } = await run(FFPROBE, ['-v', 'error', '-of', 'json', ...args, path], {
    maxBuffer: 64 * 1024 * 1024,
  });
  return JSON.parse(stdout) as Record<string, unknown>;
}

const X264 = ['-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p'];
const X265_10 = ['-c:v', 'libx265', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p10le', '-tag:v', 'hvc1'];
const AAC = ['-c:a', 'aac', '-b:a', '64k'];

interface ClockSpec {
  width?: number;
  height?: number;
  rate?: number;
  duration: number;
  /** lavfi source for the background; testsrc2 by default. */
  base?: 'testsrc2' | 'mandelbrot' | 'smptebars';
}

/** A filter graph ending in [v]: the clock described at the top of this file. */
export function clockGraph({
  width = 320,
  height = 180,
  rate = 25,
  duration,
  base = 'testsrc2',
}: ClockSpec): string {
  const size = `${width}x${height}`;
  const wide = Math.max(8, Math.round(width / 10 / 2) * 2);
  const thin = Math.max(4, Math.round(width / 40 / 2) * 2);
  const source =
    base === 'mandelbrot'
      ? `mandelbrot=s=${size}:r=${rate}:maxiter=64,trim=duration=${duration},format=yuv420p`
      : `${base}=s=${size}:r=${rate}:d=${duration},format=yuv420p`;
  return [
    `${source}[b]`,
    `color=c=white:s=${wide}x${height}:r=${rate}[w]`,
    `color=c=black:s=${thin}x${height}:r=${rate}[k]`,
    `[b][w]overlay=x='(W-w)*t/${duration}':y=0:shortest=1[bw]`,
    `[bw][k]overlay=x='mod(t*${(width / 1.6).toFixed(3)},W)':y=0:shortest=1[v]`,
  ].join(';');
}

const clock = (spec: ClockSpec) => ['-filter_complex', clockGraph(spec), '-map', '[v]'];
const keyframesEvery = (frames: number) => [
  '-x264-params',
  `keyint=${frames}:min-keyint=${frames}:scenecut=0`,
];

/** Converts SDR bt709 video into bt2020 with the given transfer (PQ or HLG), 10 bits. */
const toHdr = (transfer: 'smpte2084' | 'arib-std-b67') =>
  [
    'format=gbrpf32le',
    'zscale=tin=bt709:pin=bt709:min=gbr:t=linear:npl=100:p=bt709',
    'format=gbrpf32le',
    `zscale=tin=linear:pin=bt709:min=gbr:p=bt2020:t=${transfer}:m=bt2020nc:r=tv:npl=100`,
    'format=yuv420p10le',
  ].join(',');

const HDR10_PARAMS =
  'log-level=error:hdr10=1:repeat-headers=1:colorprim=bt2020:transfer=smpte2084:colormatrix=bt2020nc:' +
  'master-display=G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)L(10000000,1):max-cll=1000,400';

export interface MediaCase {
  ext: string;
  /** What the file is meant to show; media.test.ts checks it with ffprobe. */
  what: string;
  /** Why the npm-shipped 2018 ffmpeg cannot make or read this file, if it cannot. */
  bundledCannot?: string;
  /** Writes the file at `out` (a temporary name with the right extension). */
  make(out: string, scratch: string): Promise<void>;
}

/**
 * Four seconds of the real footage, re-encoded as it came (H.264 640x360, 25 fps, a keyframe every
 * 2 s, no audio): three clips that share no frame, for tests that need distinct real videos.
 */
const cityClip = (out: string, start: number, mirror: boolean) =>
  ffmpeg([
    ...['-ss', String(start), '-i', CITY, '-t', '4', '-an'],
    ...(mirror ? ['-vf', 'hflip'] : []),
    // As cameras and web encoders write it: High profile with B-frames, unlike the ultrafast clocks.
    ...['-c:v', 'libx264', '-preset', 'veryfast', '-profile:v', 'high', '-pix_fmt', 'yuv420p'],
    ...keyframesEvery(50),
    ...['-movflags', '+faststart'],
    out,
  ]);

export const MEDIA = {
  cityA: {
    ext: 'mp4',
    what: 'real footage: city-cc0.mp4 from 0 s to 4 s, H.264 640x360, 25 fps',
    make: (out) => cityClip(out, 0, false),
  },
  cityB: {
    ext: 'mp4',
    what: 'real footage: city-cc0.mp4 from 3.6 s to its end (7.6 s)',
    make: (out) => cityClip(out, 3.6, false),
  },
  cityC: {
    ext: 'mp4',
    what: 'real footage: city-cc0.mp4 from 1.8 s to 5.8 s, mirrored',
    make: (out) => cityClip(out, 1.8, true),
  },
  h264: {
    ext: 'mp4',
    what: 'H.264 MP4, 320x180, 25 fps, 10 s, a keyframe every 1 s, no audio',
    make: (out) => ffmpeg([...clock({ duration: 10 }), ...X264, ...keyframesEvery(25), out]),
  },
  /** Storyboard sheets of 4x4 tiles at 1 s make 3 sheets of it, the last with 2 rows and a half tile. */
  clock40: {
    ext: 'mp4',
    what: 'H.264 MP4, 320x180, 25 fps, 39.5 s, a keyframe every 2 s, no audio',
    make: (out) =>
      ffmpeg([...clock({ duration: 39.5 }), ...X264, ...keyframesEvery(50), '-movflags', '+faststart', out]),
  },
  audioFirst: {
    ext: 'mp4',
    what: 'audio stream 0, video stream 1, 6 s',
    make: (out) =>
      ffmpeg([
        ...['-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000:duration=6'],
        ...['-filter_complex', clockGraph({ duration: 6 })],
        ...['-map', '0:a', '-map', '[v]'],
        ...X264,
        ...keyframesEvery(25),
        ...AAC,
        '-shortest',
        out,
      ]),
  },
  mkv: {
    ext: 'mkv',
    what: 'H.264 in Matroska (no nb_frames), 6 s, with audio',
    make: (out) =>
      ffmpeg([
        ...['-filter_complex', clockGraph({ duration: 6, base: 'mandelbrot' })],
        ...['-f', 'lavfi', '-i', 'sine=frequency=330:sample_rate=48000:duration=6'],
        ...['-map', '[v]', '-map', '0:a'],
        ...X264,
        ...keyframesEvery(50),
        ...AAC,
        '-shortest',
        out,
      ]),
  },
  webmVp9: {
    ext: 'webm',
    what: 'VP9 in WebM (no nb_frames), 6 s',
    make: (out) =>
      ffmpeg([
        ...clock({ duration: 6 }),
        ...['-c:v', 'libvpx-vp9', '-deadline', 'realtime', '-cpu-used', '8', '-row-mt', '1', '-b:v', '400k'],
        ...['-g', '50', '-pix_fmt', 'yuv420p'],
        out,
      ]),
  },
  /** A phone held upright: stored landscape, displayed rotated 90 degrees clockwise. */
  rotate90: {
    ext: 'mp4',
    what: 'stored 320x180, display matrix rotation -90 (portrait, as phones record)',
    make: (out, scratch) => rotated(out, scratch, -90),
  },
  rotate270: {
    ext: 'mp4',
    what: 'stored 320x180, display matrix rotation 90 (portrait, the other way)',
    make: (out, scratch) => rotated(out, scratch, 90),
  },
  sarWide: {
    ext: 'mp4',
    what: 'PAL widescreen: stored 720x576, SAR 64:45, displayed 1024x576',
    make: (out) =>
      ffmpeg([
        ...['-filter_complex', `${clockGraph({ width: 720, height: 576, duration: 4 })};[v]setsar=64/45[s]`],
        ...['-map', '[s]'],
        ...X264,
        ...keyframesEvery(25),
        out,
      ]),
  },
  vfr: {
    ext: 'mp4',
    what: 'variable frame rate: 10 fps for 4 s, then 30 fps for 4 s',
    make: (out) =>
      ffmpeg([
        ...[
          '-filter_complex',
          `${clockGraph({ duration: 8, rate: 30 })};[v]select='gte(t,4)+not(mod(n,3))'[s]`,
        ],
        // -vsync, not -fps_mode (5.1+): the bundled 2018 build knows only the older name.
        ...['-map', '[s]', '-vsync', 'vfr'],
        ...X264,
        ...keyframesEvery(30),
        out,
      ]),
  },
  hevc10: {
    ext: 'mp4',
    what: 'HEVC Main 10 (yuv420p10le), tag hvc1, SDR, 4 s',
    make: (out) =>
      ffmpeg([...clock({ duration: 4 }), ...X265_10, '-x265-params', 'log-level=error:keyint=25', out]),
  },
  av1: {
    ext: 'mp4',
    what: 'AV1 in MP4, 4 s',
    make: (out) => ffmpeg([...clock({ duration: 4 }), ...av1Encoder(), '-pix_fmt', 'yuv420p', out]),
  },
  hdrPq: {
    bundledCannot: 'cannot convert the clock to 10-bit bt2020 (overlay and zscale do not negotiate)',
    ext: 'mp4',
    what: 'HDR10: HEVC 10-bit, bt2020 / smpte2084 (PQ) / bt2020nc, mastering display + CLL metadata, 4 s',
    make: (out) =>
      ffmpeg([
        ...[
          '-filter_complex',
          `${clockGraph({ width: 640, height: 360, duration: 4 })};[v]${toHdr('smpte2084')}[h]`,
        ],
        ...['-map', '[h]'],
        ...X265_10,
        ...['-x265-params', `${HDR10_PARAMS}:keyint=25`],
        ...[
          '-color_primaries',
          'bt2020',
          '-color_trc',
          'smpte2084',
          '-colorspace',
          'bt2020nc',
          '-color_range',
          'tv',
        ],
        out,
      ]),
  },
  /** The HDR videos' picture before conversion: what their tone-mapped outputs should resemble. */
  hdrSdrTwin: {
    ext: 'mp4',
    what: 'the SDR original of hdrPq and hdrHlg (640x360, 4 s, bt709)',
    make: (out) =>
      ffmpeg([...clock({ width: 640, height: 360, duration: 4 }), ...X264, ...keyframesEvery(25), out]),
  },
  hdrHlg: {
    bundledCannot: 'cannot convert the clock to 10-bit bt2020 (overlay and zscale do not negotiate)',
    ext: 'mp4',
    what: 'HLG: HEVC 10-bit, bt2020 / arib-std-b67 / bt2020nc, 4 s',
    make: (out) =>
      ffmpeg([
        ...[
          '-filter_complex',
          `${clockGraph({ width: 640, height: 360, duration: 4 })};[v]${toHdr('arib-std-b67')}[h]`,
        ],
        ...['-map', '[h]'],
        ...X265_10,
        ...[
          '-x265-params',
          'log-level=error:keyint=25:colorprim=bt2020:transfer=arib-std-b67:colormatrix=bt2020nc',
        ],
        ...[
          '-color_primaries',
          'bt2020',
          '-color_trc',
          'arib-std-b67',
          '-colorspace',
          'bt2020nc',
          '-color_range',
          'tv',
        ],
        out,
      ]),
  },
  interlaced: {
    ext: 'mp4',
    what: 'interlaced H.264, 640x360 25i top field first, fast horizontal motion (combs when woven)',
    make: (out) =>
      ffmpeg([
        ...['-filter_complex', `${interlacedGraph(640, 360, 4)}`],
        ...['-map', '[v]'],
        ...X264,
        ...['-flags', '+ilme+ildct', '-top', '1', '-field_order', 'tt'],
        ...keyframesEvery(25),
        out,
      ]),
  },
  oneFrame: {
    ext: 'mp4',
    what: 'a single frame of H.264',
    make: (out) => ffmpeg([...clock({ duration: 1 }), '-frames:v', '1', ...X264, out]),
  },
  short10: {
    ext: 'mp4',
    what: '1 s at 10 fps: 10 frames, fewer than a 10x5 strip has tiles',
    make: (out) => ffmpeg([...clock({ duration: 1, rate: 10 }), ...X264, out]),
  },
  oneKeyframe: {
    ext: 'mp4',
    what: '8 s at 25 fps with a single keyframe (-g 1000)',
    make: (out) => ffmpeg([...clock({ duration: 8 }), ...X264, '-g', '1000', ...keyframesEvery(1000), out]),
  },
  blackIntro: {
    ext: 'mp4',
    what: '3 s of black, then 5 s of bright colour bars',
    make: (out) =>
      ffmpeg([
        ...[
          '-filter_complex',
          `color=c=black:s=320x180:r=25:d=3,format=yuv420p[a];${clockGraph({ duration: 5 })};[a][v]concat=n=2:v=1:a=0[c]`,
        ],
        ...['-map', '[c]'],
        ...X264,
        ...keyframesEvery(25),
        out,
      ]),
  },
  fadeIn: {
    ext: 'mp4',
    what: '6 s fading in from black over the first 4 s',
    make: (out) =>
      ffmpeg([
        ...['-filter_complex', `${clockGraph({ duration: 6 })};[v]fade=t=in:st=0:d=4[f]`],
        ...['-map', '[f]'],
        ...X264,
        ...keyframesEvery(25),
        out,
      ]),
  },
  mpegts: {
    bundledCannot: 'ships an ffprobe that crashes (SIGSEGV) on MPEG-TS',
    ext: 'ts',
    what: 'H.264 + AAC in MPEG-TS (non-zero start time), 6 s',
    make: (out) =>
      ffmpeg([
        ...['-filter_complex', clockGraph({ duration: 6 })],
        ...['-f', 'lavfi', '-i', 'sine=frequency=550:sample_rate=48000:duration=6'],
        ...['-map', '[v]', '-map', '0:a'],
        ...X264,
        ...keyframesEvery(25),
        ...AAC,
        '-shortest',
        out,
      ]),
  },
  avi: {
    ext: 'avi',
    what: 'MPEG-4 part 2 in AVI, 6 s',
    make: (out) => ffmpeg([...clock({ duration: 6 }), '-c:v', 'mpeg4', '-q:v', '4', '-g', '25', out]),
  },
  /** The source of the truncated file: moov at the end, so the first 30% has no index. */
  truncated: {
    ext: 'mp4',
    what: 'the first 30% of the bytes of an MP4 whose index (moov) is at the end',
    make: async (out, scratch) => {
      const whole = join(scratch, 'whole.mp4');
      await ffmpeg([...clock({ duration: 6 }), ...X264, ...keyframesEvery(25), whole]);
      const bytes = await readFile(whole);
      await writeFile(out, bytes.subarray(0, Math.floor(bytes.length * 0.3)));
    },
  },
  audioOnly: {
    ext: 'mp4',
    what: 'an MP4 with an AAC stream and no video stream',
    make: (out) =>
      ffmpeg(['-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000:duration=3', ...AAC, out]),
  },
  randomBytes: {
    ext: 'mp4',
    what: '256 KiB of pseudo-random bytes (fixed seed)',
    make: (out) => writeFile(out, seededBytes(256 * 1024, 0x5eed)),
  },
  empty: {
    ext: 'mp4',
    what: 'an empty file',
    make: (out) => writeFile(out, new Uint8Array(0)),
  },
  png: {
    ext: 'mp4',
    what: 'a PNG image named .mp4',
    make: async (out, scratch) => {
      const png = join(scratch, 'frame.png');
      await ffmpeg([...clock({ duration: 1 }), '-frames:v', '1', '-update', '1', png]);
      await rename(png, out);
    },
  },
  jpeg: {
    ext: 'mp4',
    what: 'a JPEG image named .mp4',
    make: async (out, scratch) => {
      const jpg = join(scratch, 'frame.jpg');
      await ffmpeg([...clock({ duration: 1 }), '-frames:v', '1', '-update', '1', jpg]);
      await rename(jpg, out);
    },
  },
} satisfies Record<string, MediaCase>;

export type MediaName = keyof typeof MEDIA;

/**
 * A test's `skip` option for the media it needs: the reason when the bundled fallback ffmpeg cannot
 * make or read one of them, else undefined (scripts/run-tests.mjs lists skips; CI fails on them).
 */
export function skipWithout(...names: MediaName[]): string | undefined {
  if (!BUNDLED_FFMPEG) return undefined;
  const reasons = names.flatMap((n) => {
    const recipe: MediaCase = MEDIA[n];
    return recipe.bundledCannot ? [`${n}: the bundled 2018 ffmpeg ${recipe.bundledCannot}`] : [];
  });
  return reasons.length > 0 ? reasons.join('; ') : undefined;
}

async function rotated(out: string, scratch: string, rotation: 90 | -90): Promise<void> {
  const plain = join(scratch, 'plain.mp4');
  await ffmpeg([...clock({ duration: 6 }), ...X264, ...keyframesEvery(25), plain]);
  // ffmpeg 5.1 ignores a `rotate` tag when encoding but honours it on a stream copy, and which
  // way round the tag is read has changed between versions: try both, keep what ffprobe reports.
  for (const tag of ['90', '270']) {
    await ffmpeg(['-i', plain, '-c', 'copy', '-metadata:s:v:0', `rotate=${tag}`, out]);
    if ((await probeRotation(out)) === rotation) return;
  }
  throw new Error(`could not make a video whose display matrix says rotation ${rotation}`);
}

/** Rotation from the display matrix side data (ffprobe's sign convention), 0 if none. */
export async function probeRotation(path: string): Promise<number> {
  const json = await ffprobe(path, ['-select_streams', 'v:0', '-show_entries', 'stream_side_data=rotation']);
  const streams = json.streams as { side_data_list?: { rotation?: number }[] }[] | undefined;
  const found = streams?.[0]?.side_data_list?.find((s) => typeof s.rotation === 'number');
  return found?.rotation ?? 0;
}

function av1Encoder(): string[] {
  // libsvtav1 is far faster than libaom at its fastest preset; both ship with Debian's ffmpeg.
  return svtAv1Available
    ? ['-c:v', 'libsvtav1', '-preset', '12', '-g', '25']
    : [
        '-c:v',
        'libaom-av1',
        '-strict',
        'experimental',
        '-cpu-used',
        '8',
        '-row-mt',
        '1',
        '-b:v',
        '200k',
        '-g',
        '25',
      ];
}

let svtAv1Available = false;
async function detectEncoders(): Promise<void> {
  const { stdout } = await run(FFMPEG, ['-hide_banner', '-encoders']);
  svtAv1Available = /\blibsvtav1\b/.test(stdout);
}

/**
 * Interlaced source: 50 progressive frames a second woven into 25 frames of two fields each, with
 * a bright bar crossing 16 px per field, so that a woven (not deinterlaced) frame shows combs.
 */
function interlacedGraph(width: number, height: number, duration: number): string {
  return [
    `testsrc2=s=${width}x${height}:r=50:d=${duration},format=yuv420p[b]`,
    `color=c=white:s=48x${height}:r=50[w]`,
    `color=c=black:s=24x${height}:r=50[k]`,
    `[b][w]overlay=x='mod(t*800,W)':y=0:shortest=1[bw]`,
    `[bw][k]overlay=x='W-mod(t*600,W)':y=0:shortest=1[p]`,
    `[p]tinterlace=mode=interleave_top,setfield=tff[v]`,
  ].join(';');
}

/** Deterministic xorshift32 bytes, so "random" input is the same on every run. */
export function seededBytes(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

const pending = new Map<string, Promise<string>>();

/** This file's own text: any change to a recipe here makes new files rather than reusing old ones. */
const RECIPES_HASH = createHash('sha256')
  .update(readFileSync(fileURLToPath(import.meta.url)))
  .digest('hex');

function cacheKey(name: string, recipe: MediaCase): string {
  const hash = createHash('sha256')
    .update(`${name}\0${recipe.ext}\0${RECIPES_HASH}`)
    .digest('hex')
    .slice(0, 10);
  return `${name}-${hash}.${recipe.ext}`;
}

/** Path of a generated test video, making it on first use. */
export function media(name: MediaName): Promise<string> {
  let promise = pending.get(name);
  if (!promise) {
    promise = generate(name, MEDIA[name]);
    pending.set(name, promise);
  }
  return promise;
}

async function generate(name: string, recipe: MediaCase): Promise<string> {
  const final = join(MEDIA_DIR, cacheKey(name, recipe));
  if (existsSync(final)) return final;
  await mkdir(MEDIA_DIR, { recursive: true });
  if (name === 'av1') await detectEncoders();
  const tag = `${process.pid}-${randomBytes(4).toString('hex')}`;
  const scratch = join(MEDIA_DIR, `.scratch-${name}-${tag}`);
  const temp = join(MEDIA_DIR, `.tmp-${name}-${tag}.${recipe.ext}`);
  await mkdir(scratch, { recursive: true });
  try {
    await recipe.make(temp, scratch);
    await stat(temp);
    await rename(temp, final);
  } finally {
    await rm(scratch, { recursive: true, force: true });
    await rm(temp, { force: true });
  }
  return final;
}

/** Generates several cases with at most `concurrency` ffmpeg runs at once. */
export async function mediaAll(names: MediaName[], concurrency = 2): Promise<Record<string, string>> {
  const result: Record<string, string> = {};
  const queue = [...names];
  await Promise.all(
    Array.from({ length: Math.min(concurrency, queue.length) }, async () => {
      for (let name = queue.shift(); name; name = queue.shift()) result[name] = await media(name);
    }),
  );
  return result;
}

/** Writes a text file into the cache under a content-derived name (playlists, concat lists). */
async function textFile(name: string, text: string): Promise<string> {
  await mkdir(MEDIA_DIR, { recursive: true });
  const hash = createHash('sha256').update(text).digest('hex').slice(0, 10);
  const final = join(MEDIA_DIR, `${name}-${hash}.mp4`);
  if (existsSync(final)) return final;
  const temp = join(MEDIA_DIR, `.tmp-${name}-${process.pid}-${randomBytes(4).toString('hex')}.mp4`);
  await writeFile(temp, text);
  await rename(temp, final);
  return final;
}

/** An HLS media playlist named `.mp4` whose one segment is `segmentUri` (a path or a URL). */
export function hlsPlaylistAsMp4(segmentUri: string): Promise<string> {
  const text = [
    '#EXTM3U',
    '#EXT-X-VERSION:3',
    '#EXT-X-TARGETDURATION:6',
    '#EXT-X-MEDIA-SEQUENCE:0',
    '#EXTINF:6.0,',
    segmentUri,
    '#EXT-X-ENDLIST',
    '',
  ].join('\n');
  return textFile('hls', text);
}

/** An ffconcat list named `.mp4` that pulls in `path`. */
export function ffconcatAsMp4(path: string): Promise<string> {
  return textFile('ffconcat', `ffconcat version 1.0\nfile '${path.replace(/'/g, "'\\''")}'\n`);
}
