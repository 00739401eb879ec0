/**
 * What a person looks at in a picture, measured: decoded size, brightness, colourfulness, and small
 * grayscale fingerprints to tell which frame of a video a tile shows. ffmpeg/ffprobe decode (run
 * with execFile, no shell); every number is computed here in TypeScript.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { FFMPEG, FFPROBE } from './binaries.js';

const run = promisify(execFile);
const MAX_BUFFER = 512 * 1024 * 1024;

/** Side of the fingerprint grid: every picture is reduced to FP_W x FP_H grayscale cells. */
export const FP_W = 32;
export const FP_H = 18;

export interface Gray {
  width: number;
  height: number;
  /** One byte per pixel, row by row, full range (0 black .. 255 white). */
  data: Uint8Array;
}

export interface Crop {
  x: number;
  y: number;
  width: number;
  height: number;
}

async function ffmpegBuffer(args: string[]): Promise<{ stdout: Buffer; stderr: string }> {
  const { stdout, stderr } = await run(FFMPEG, ['-hide_banner', '-nostdin', ...args], {
    encoding: 'buffer',
    maxBuffer: MAX_BUFFER,
  });
  return { stdout, stderr: stderr.toString('utf8') };
}

export async function ffprobeJson(path: string, args: string[]): Promise<Record<string, unknown>> {
  const { stdout } = await run(FFPROBE, ['-v', 'error', '-of', 'json', ...args, path], {
    maxBuffer: MAX_BUFFER,
  });
  return JSON.parse(stdout) as Record<string, unknown>;
}

/** Decoded width and height of an image (what a browser would show), from ffprobe. */
export async function imageSize(path: string): Promise<{ width: number; height: number }> {
  const json = await ffprobeJson(path, ['-select_streams', 'v:0', '-show_entries', 'stream=width,height']);
  const stream = (json.streams as { width?: number; height?: number }[] | undefined)?.[0];
  if (!stream?.width || !stream.height) throw new Error(`${path}: no decodable picture`);
  return { width: stream.width, height: stream.height };
}

/** Decodes an image to full-range 8-bit gray at its own size, or scaled (bicubic) to `size`. */
export async function decodeGray(path: string, size?: { width: number; height: number }): Promise<Gray> {
  const { width, height } = size ?? (await imageSize(path));
  const { stdout } = await ffmpegBuffer([
    '-loglevel',
    'error',
    '-i',
    path,
    '-frames:v',
    '1',
    '-vf',
    `scale=${size ? `${width}:${height}:flags=bicubic:` : ''}in_range=auto:out_range=full,format=gray`,
    '-f',
    'rawvideo',
    'pipe:1',
  ]);
  if (stdout.length !== width * height)
    throw new Error(`${path}: decoded ${stdout.length} bytes, not ${width}x${height}`);
  return { width, height, data: new Uint8Array(stdout) };
}

/**
 * Peak signal-to-noise ratio of two gray pictures of one size, in dB: about 30 and more for the
 * same picture through two encodings or scalings, under 20 for different pictures.
 */
export function psnr(a: Gray, b: Gray): number {
  if (a.width !== b.width || a.height !== b.height) {
    throw new Error(`psnr of ${a.width}x${a.height} and ${b.width}x${b.height}`);
  }
  let squares = 0;
  for (let i = 0; i < a.data.length; i++) squares += (a.data[i]! - b.data[i]!) ** 2;
  const mse = squares / Math.max(1, a.data.length);
  return mse === 0 ? Infinity : 10 * Math.log10((255 * 255) / mse);
}

/** A rectangle of a gray picture, as a picture of its own. */
export function cropGray(gray: Gray, rect: Crop): Gray {
  const data = new Uint8Array(rect.width * rect.height);
  for (let y = 0; y < rect.height; y++) {
    const row = (rect.y + y) * gray.width + rect.x;
    data.set(gray.data.subarray(row, row + rect.width), y * rect.width);
  }
  return { width: rect.width, height: rect.height, data };
}

/** Mean luma 0..255 of an image, or of a rectangle of it. */
export async function meanLuma(path: string, crop?: Crop): Promise<number> {
  return meanOf(await decodeGray(path), crop);
}

export function meanOf(
  gray: Gray,
  crop: Crop = { x: 0, y: 0, width: gray.width, height: gray.height },
): number {
  let sum = 0;
  for (let y = crop.y; y < crop.y + crop.height; y++) {
    const row = y * gray.width;
    for (let x = crop.x; x < crop.x + crop.width; x++) sum += gray.data[row + x]!;
  }
  return sum / Math.max(1, crop.width * crop.height);
}

/** Box-averages a rectangle of a gray picture down to FP_W x FP_H cells. */
export function fingerprint(
  gray: Gray,
  crop: Crop = { x: 0, y: 0, width: gray.width, height: gray.height },
): Float64Array {
  const sums = new Float64Array(FP_W * FP_H);
  const counts = new Float64Array(FP_W * FP_H);
  for (let y = 0; y < crop.height; y++) {
    const cy = Math.min(FP_H - 1, Math.floor((y * FP_H) / crop.height));
    const row = (crop.y + y) * gray.width + crop.x;
    for (let x = 0; x < crop.width; x++) {
      const cell = cy * FP_W + Math.min(FP_W - 1, Math.floor((x * FP_W) / crop.width));
      sums[cell]! += gray.data[row + x]!;
      counts[cell]! += 1;
    }
  }
  return sums.map((s, i) => s / Math.max(1, counts[i]!));
}

/**
 * Distance between two fingerprints compared by rank (each cell replaced by its rank among the
 * cells of its picture), so that any monotonic change of tones (tone mapping, a fade, a different
 * JPEG quality) does not count, only where things are: 0 for the same picture, about 0.33 for
 * unrelated ones.
 */
export function fingerprintDistance(a: Float64Array, b: Float64Array): number {
  const ra = ranks(a);
  const rb = ranks(b);
  let sum = 0;
  for (let i = 0; i < ra.length; i++) sum += Math.abs(ra[i]! - rb[i]!);
  return sum / ra.length;
}

const rankCache = new WeakMap<Float64Array, Float64Array>();

/** Ranks scaled to 0..1, ties sharing their mean rank. */
function ranks(values: Float64Array): Float64Array {
  const cached = rankCache.get(values);
  if (cached) return cached;
  const order = [...values.keys()].sort((i, j) => values[i]! - values[j]!);
  const result = new Float64Array(values.length);
  for (let start = 0; start < order.length;) {
    let end = start;
    while (end + 1 < order.length && values[order[end + 1]!] === values[order[start]!]) end++;
    const rank = (start + end) / 2 / Math.max(1, values.length - 1);
    for (let i = start; i <= end; i++) result[order[i]!] = rank;
    start = end + 1;
  }
  rankCache.set(values, result);
  return result;
}

export interface TileStat {
  index: number;
  col: number;
  row: number;
  rect: Crop;
  meanLuma: number;
  fingerprint: Float64Array;
}

/**
 * Cuts a contact sheet laid out like ffmpeg's `tile` filter (margin around, padding between) into
 * its tiles, row by row, and measures each.
 */
export async function tileStats(
  path: string,
  cols: number,
  rows: number,
  tileW: number,
  tileH: number,
  padding: number,
  margin: number,
): Promise<TileStat[]> {
  const gray = await decodeGray(path);
  return tilesOf(gray, cols, rows, tileW, tileH, padding, margin);
}

export function tilesOf(
  gray: Gray,
  cols: number,
  rows: number,
  tileW: number,
  tileH: number,
  padding: number,
  margin: number,
): TileStat[] {
  const tiles: TileStat[] = [];
  for (let row = 0; row < rows; row++) {
    for (let col = 0; col < cols; col++) {
      const rect = {
        x: margin + col * (tileW + padding),
        y: margin + row * (tileH + padding),
        width: tileW,
        height: tileH,
      };
      if (rect.x + rect.width > gray.width || rect.y + rect.height > gray.height) {
        throw new Error(`tile ${col},${row} (${JSON.stringify(rect)}) outside ${gray.width}x${gray.height}`);
      }
      tiles.push({
        index: tiles.length,
        col,
        row,
        rect,
        meanLuma: meanOf(gray, rect),
        fingerprint: fingerprint(gray, rect),
      });
    }
  }
  return tiles;
}

/**
 * Mean distance of the chroma from neutral (|U-128| + |V-128|, 8-bit full range), over the whole
 * picture: a grey or washed-out picture scores near 0, saturated colour bars 60 and more.
 */
export async function saturation(path: string): Promise<number> {
  const { width, height } = await imageSize(path);
  const { stdout } = await ffmpegBuffer([
    '-loglevel',
    'error',
    '-i',
    path,
    '-frames:v',
    '1',
    '-vf',
    'scale=out_range=full:out_color_matrix=bt709,format=yuv444p',
    '-f',
    'rawvideo',
    'pipe:1',
  ]);
  const plane = width * height;
  if (stdout.length !== 3 * plane)
    throw new Error(`${path}: decoded ${stdout.length} bytes, not 3x${width}x${height}`);
  let sum = 0;
  for (let i = 0; i < plane; i++)
    sum += Math.abs(stdout[plane + i]! - 128) + Math.abs(stdout[2 * plane + i]! - 128);
  return sum / plane;
}

/**
 * The frame a player shows at `seconds` (accurate: `-ss` after `-i` decodes from the start), with
 * rotation applied and pixels made square, scaled to `width` x `height` (height defaults to the
 * display aspect ratio). `filter` runs first on the decoded frame (e.g. a deinterlacer).
 */
export async function frameAt(
  video: string,
  seconds: number,
  width: number,
  options: { height?: number; filter?: string } = {},
): Promise<Gray> {
  const chain = [
    ...(options.filter ? [options.filter] : []),
    'scale=iw*sar:ih',
    'setsar=1',
    `scale=${width}:${options.height ?? -2}:out_range=full`,
    'format=gray',
  ];
  const { stdout } = await ffmpegBuffer([
    '-loglevel',
    'error',
    '-i',
    video,
    '-ss',
    seconds.toFixed(6),
    '-frames:v',
    '1',
    '-vf',
    chain.join(','),
    '-f',
    'rawvideo',
    'pipe:1',
  ]);
  const rows = stdout.length / width;
  if (!Number.isInteger(rows) || rows === 0)
    throw new Error(`${video} @${seconds}s: got ${stdout.length} bytes`);
  return { width, height: rows, data: new Uint8Array(stdout) };
}

/**
 * The frames a player shows at each of `times` (seconds, each within a frame of a frame's own
 * time), like `frameAt` but in one decoder run: a map from each time to its picture.
 */
export async function framesAt(
  video: string,
  times: number[],
  width: number,
  height: number,
  frameSeconds: number,
): Promise<Map<number, Gray>> {
  const wanted = [...new Set(times)].sort((a, b) => a - b);
  const half = frameSeconds / 2;
  const terms = wanted.map((t) => `between(t,${(t - half).toFixed(6)},${(t + half - 1e-6).toFixed(6)})`);
  const chain = [
    `select='${terms.join('+')}'`,
    'scale=iw*sar:ih',
    'setsar=1',
    `scale=${width}:${height}:out_range=full`,
    'format=gray',
  ];
  const { stdout } = await ffmpegBuffer(
    ['-loglevel', 'error', '-i', video, '-vf', chain.join(','), '-vsync', 'passthrough'].concat([
      '-f',
      'rawvideo',
      'pipe:1',
    ]),
  );
  const size = width * height;
  if (stdout.length !== size * wanted.length) {
    throw new Error(`${video}: ${stdout.length / size} frames for ${wanted.length} times`);
  }
  return new Map(
    wanted.map((t, i) => [
      t,
      { width, height, data: new Uint8Array(stdout.subarray(i * size, (i + 1) * size)) },
    ]),
  );
}

/** Writes a frame as an image (for comparisons a person can look at, e.g. the naive HDR frame). */
export async function saveFrameAt(video: string, seconds: number, width: number, out: string): Promise<void> {
  await ffmpegBuffer([
    '-loglevel',
    'error',
    '-y',
    '-i',
    video,
    '-ss',
    seconds.toFixed(6),
    '-frames:v',
    '1',
    '-vf',
    `scale=${width}:-2`,
    '-q:v',
    '2',
    out,
  ]);
}

export interface FrameFingerprint {
  /** Presentation time in seconds from the start of the file (as `-ss` after `-i` counts). */
  time: number;
  fingerprint: Float64Array;
}

/**
 * Every frame of a video reduced to a fingerprint, with its time, in one decoder run: the reference
 * a tile is compared against. Fingerprints are taken at FP_W x FP_H directly, so aspect ratio,
 * rotation direction aside, does not matter.
 */
export async function videoFingerprints(video: string): Promise<FrameFingerprint[]> {
  const { stdout, stderr } = await ffmpegBuffer([
    '-loglevel',
    'info',
    '-i',
    video,
    '-map',
    '0:v:0',
    // -vsync rather than -fps_mode (5.1+), as the engine does: the bundled 2018 build knows only this.
    '-vsync',
    'passthrough',
    '-vf',
    `scale=${FP_W * 4}:${FP_H * 4}:out_range=full,format=gray,showinfo`,
    '-f',
    'rawvideo',
    'pipe:1',
  ]);
  const times = [
    ...stderr.matchAll(/Parsed_showinfo.*?\bn:\s*\d+\s+pts:\s*-?\d+\s+pts_time:\s*(-?[\d.e+-]+)/g),
  ].map((m) => Number(m[1]));
  const size = FP_W * 4 * FP_H * 4;
  if (times.length * size !== stdout.length) {
    throw new Error(`${video}: ${times.length} frame times for ${stdout.length / size} frames`);
  }
  return times.map((time, i) => ({
    time,
    fingerprint: fingerprint({
      width: FP_W * 4,
      height: FP_H * 4,
      data: stdout.subarray(i * size, (i + 1) * size),
    }),
  }));
}

/** The frame on screen at `seconds`: the last one whose time is not after it (or the first). */
export function frameShownAt(frames: FrameFingerprint[], seconds: number): FrameFingerprint {
  let shown = frames[0]!;
  for (const frame of frames) {
    if (frame.time <= seconds + 1e-3) shown = frame;
    else break;
  }
  return shown;
}

/**
 * Combing: how much each line differs from the average of the lines above and below, in the
 * places where that exceeds what a smooth picture would show. A woven interlaced frame with
 * motion scores high, a deinterlaced one low.
 */
export function combing(gray: Gray): number {
  let sum = 0;
  let n = 0;
  for (let y = 1; y < gray.height - 1; y++) {
    for (let x = 0; x < gray.width; x++) {
      const above = gray.data[(y - 1) * gray.width + x]!;
      const here = gray.data[y * gray.width + x]!;
      const below = gray.data[(y + 1) * gray.width + x]!;
      // Comb teeth: this line is on the other side of both neighbours.
      const d1 = here - above;
      const d2 = here - below;
      if ((d1 > 0 && d2 > 0) || (d1 < 0 && d2 < 0)) sum += Math.min(Math.abs(d1), Math.abs(d2));
      n++;
    }
  }
  return sum / Math.max(1, n);
}
