import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import {
  crop,
  decodeImage,
  difference,
  frameAt,
  lumaStats,
  probeImage,
  shrink,
  type Raster,
} from './image.js';
import { parseStoryboardVtt, type Cue } from '../../test/support/tracks.js';
import type { Media } from './media.js';

/**
 * What a person would check on every output the bench timed: the strip has the grid asked for,
 * every tile shows a picture (not black, not flat), no two tiles show the same moment, and the
 * sampled tiles show the moment they claim (closer to the reference frame at their own time than
 * to the frames at their neighbours' times). Each check returns problems; none means valid.
 */

/** Shrunk by this factor before comparing tiles, so that JPEG noise does not count. */
const SHRINK = 4;
/** Two shrunk tiles closer than this (mean abs. difference, 0..255) show the same picture. Calibrated
 * on the bench media: JPEG q10 against its source about 1.5, frames 1 s apart 5, 6 s apart 10. */
const SAME_PICTURE = 3;
/** Tiles whose times are this close (in the picture's period) may show the same picture. */
const SAME_MOMENT_SECONDS = 1;
/** A tile is blank when its luma hardly varies or it is nearly black or white. */
const MIN_LUMA_STD = 8;
const MIN_LUMA_MEAN = 12;
const MAX_LUMA_MEAN = 245;
/** How many tiles of a strip are compared with reference frames (spread over the strip). */
const SAMPLED_TILES = 8;

export interface Grid {
  cols: number;
  rows: number;
  tileWidth: number;
  /** Accepted tile heights: the rounding of `-1` and `-2` differs by a pixel between tools. */
  tileHeights: number[];
}

export interface Tile {
  raster: Raster;
  /** Seconds into the video that the tile should show. */
  time: number;
  label: string;
}

/** Extracted reference frames, shared by all checks of a run: the same times come back each round. */
export class References {
  private readonly cache = new Map<string, Promise<Raster>>();

  get(video: Media, time: number, width: number, height: number): Promise<Raster> {
    const key = `${video.path}|${time.toFixed(3)}|${width}x${height}`;
    let frame = this.cache.get(key);
    if (!frame) {
      frame = frameAt(video.path, time, width, height);
      this.cache.set(key, frame);
    }
    return frame;
  }
}

const fmt = (n: number) => n.toFixed(1);

function blankProblem(tile: Tile): string | undefined {
  const { mean, std } = lumaStats(tile.raster);
  if (std < MIN_LUMA_STD || mean < MIN_LUMA_MEAN || mean > MAX_LUMA_MEAN) {
    return `${tile.label} looks blank (luma mean ${fmt(mean)}, std ${fmt(std)})`;
  }
  return undefined;
}

/** Circular distance between two times in a picture that repeats every `period` seconds. */
function momentDistance(a: number, b: number, period: number): number {
  const d = Math.abs(a - b) % period;
  return Math.min(d, period - d);
}

/** Pairs of tiles that should show different pictures but do not. `pairs` limits which pairs. */
function duplicateProblems(tiles: Tile[], period: number, pairs: 'all' | 'adjacent'): string[] {
  const small = tiles.map((t) => shrink(t.raster, SHRINK));
  const problems: string[] = [];
  for (let i = 0; i < tiles.length; i++) {
    const last = pairs === 'all' ? tiles.length : Math.min(tiles.length, i + 2);
    for (let j = i + 1; j < last; j++) {
      if (momentDistance(tiles[i]!.time, tiles[j]!.time, period) < SAME_MOMENT_SECONDS) continue;
      const d = difference(small[i]!, small[j]!);
      if (d < SAME_PICTURE) {
        problems.push(
          `${tiles[i]!.label} (${tiles[i]!.time} s) and ${tiles[j]!.label} (${tiles[j]!.time} s) show the same picture (difference ${fmt(d)})`,
        );
      }
    }
  }
  return problems
    .slice(0, 5)
    .concat(problems.length > 5 ? [`... and ${problems.length - 5} more same-picture pairs`] : []);
}

/** Blank tiles (the first five) and neighbours showing the same picture. */
function tileProblems(tiles: Tile[], period: number): string[] {
  const blank = tiles.map(blankProblem).filter((p): p is string => p !== undefined);
  return [...blank.slice(0, 5), ...duplicateProblems(tiles, period, 'adjacent')];
}

/** Indices of `count` tiles spread from the first to the last. */
function spread(length: number, count: number): number[] {
  if (length <= count) return Array.from({ length }, (_, i) => i);
  return [...new Set(Array.from({ length: count }, (_, k) => Math.round((k * (length - 1)) / (count - 1))))];
}

/**
 * Each sampled tile must be closer to the reference frame at its own time than to the reference
 * frames at its neighbours' times.
 */
async function timeProblems(
  tiles: Tile[],
  video: Media,
  refs: References,
  samples: number,
): Promise<string[]> {
  const problems: string[] = [];
  for (const i of spread(tiles.length, samples)) {
    const tile = tiles[i]!;
    const { width, height } = tile.raster;
    const own = shrink(await refs.get(video, tile.time, width, height), SHRINK);
    const mine = shrink(tile.raster, SHRINK);
    const ownDiff = difference(mine, own);
    for (const j of [i - 1, i + 1]) {
      const other = tiles[j];
      if (!other || momentDistance(other.time, tile.time, video.period) < SAME_MOMENT_SECONDS) continue;
      const theirs = difference(mine, shrink(await refs.get(video, other.time, width, height), SHRINK));
      if (theirs <= ownDiff) {
        problems.push(
          `${tile.label} claims ${tile.time} s but looks more like ${other.time} s (difference ${fmt(ownDiff)} vs ${fmt(theirs)})`,
        );
      }
    }
  }
  return problems;
}

export interface StripCheck {
  image: string;
  grid: Grid;
  /** Expected time of each tile, in tile order (row after row). */
  times: number[];
  video: Media;
  refs: References;
}

/** Checks a tile sheet of `cols` x `rows` equal tiles without padding or margin. */
export async function checkStrip(check: StripCheck): Promise<string[]> {
  const { grid, times } = check;
  const name = check.image.split('/').at(-1) ?? check.image;
  const info = await probeImage(check.image).catch((error: Error) => error);
  if (info instanceof Error) return [`${name} does not decode: ${info.message}`];
  if (info.codec !== 'mjpeg') return [`${name} is ${info.codec}, not JPEG`];
  const tileHeight = info.height / grid.rows;
  const expectedWidth = grid.cols * grid.tileWidth;
  if (info.width !== expectedWidth || !grid.tileHeights.includes(tileHeight)) {
    const heights = grid.tileHeights.map((h) => h * grid.rows).join(' or ');
    return [
      `${name} is ${info.width}x${info.height}, expected ${expectedWidth}x${heights} (${grid.cols}x${grid.rows} tiles of ${grid.tileWidth} px)`,
    ];
  }
  if (times.length !== grid.cols * grid.rows) {
    return [`${name}: ${times.length} tile times listed for ${grid.cols * grid.rows} tiles`];
  }
  const image = await decodeImage(check.image);
  const tiles: Tile[] = times.map((time, i) => ({
    raster: crop(
      image,
      (i % grid.cols) * grid.tileWidth,
      Math.floor(i / grid.cols) * tileHeight,
      grid.tileWidth,
      tileHeight,
    ),
    time,
    label: `tile ${i + 1}`,
  }));
  const problems = tiles.map(blankProblem).filter((p): p is string => p !== undefined);
  problems.push(...duplicateProblems(tiles, check.video.period, 'all'));
  problems.push(...(await timeProblems(tiles, check.video, check.refs, SAMPLED_TILES)));
  return problems.map((p) => `${name}: ${p}`);
}

// ---------------------------------------------------------------------------------------------
// Our outputs, described by manifest.json

interface ManifestOutput {
  kind: string;
  file: string;
  bytes: number;
  width?: number;
  height?: number;
  tiles?: number;
  times?: number[];
}

interface Manifest {
  outputs: ManifestOutput[];
  input?: { duration?: number };
}

export async function readManifest(outDir: string): Promise<Manifest | string> {
  try {
    const manifest = JSON.parse(await readFile(resolve(outDir, 'manifest.json'), 'utf8')) as Manifest;
    if (!Array.isArray(manifest.outputs)) return 'manifest.json has no outputs list';
    return manifest;
  } catch (error) {
    return `manifest.json is missing or unreadable: ${(error as Error).message}`;
  }
}

/** Every listed file exists with the listed size. */
async function manifestFileProblems(outDir: string, manifest: Manifest): Promise<string[]> {
  const problems: string[] = [];
  for (const output of manifest.outputs) {
    const size = await stat(resolve(outDir, output.file)).then(
      (s) => s.size,
      () => undefined,
    );
    if (size === undefined) problems.push(`${output.file} is listed in manifest.json but missing`);
    else if (size !== output.bytes)
      problems.push(`${output.file} is ${size} bytes, manifest.json says ${output.bytes}`);
  }
  return problems;
}

export const OUR_STRIP: Grid = { cols: 10, rows: 5, tileWidth: 600, tileHeights: [338] };

async function checkOurStrip(
  outDir: string,
  manifest: Manifest,
  video: Media,
  refs: References,
): Promise<string[]> {
  const strips = manifest.outputs.filter((o) => o.kind === 'strip');
  const strip = strips[0];
  if (strips.length !== 1 || !strip) return [`manifest.json lists ${strips.length} strips, expected 1`];
  if (!strip.times) return ['manifest.json lists no times for the strip'];
  const image = resolve(outDir, strip.file);
  const problems = await checkStrip({ image, grid: OUR_STRIP, times: strip.times, video, refs });
  if (problems.length === 0 && strip.width !== undefined) {
    const info = await probeImage(image);
    if (info.width !== strip.width || info.height !== strip.height) {
      problems.push(
        `${strip.file} is ${info.width}x${info.height}, manifest.json says ${strip.width}x${strip.height}`,
      );
    }
  }
  return problems;
}

async function checkPoster(outDir: string, output: ManifestOutput): Promise<string[]> {
  const image = await decodeImage(resolve(outDir, output.file)).catch((error: Error) => error);
  if (image instanceof Error) return [`${output.file} does not decode: ${image.message}`];
  const problems: string[] = [];
  if (output.width !== undefined && (image.width !== output.width || image.height !== output.height)) {
    problems.push(
      `${output.file} is ${image.width}x${image.height}, manifest.json says ${output.width}x${output.height}`,
    );
  }
  const blank = blankProblem({ raster: image, time: 0, label: output.file });
  if (blank) problems.push(blank);
  return problems;
}

/** The storyboard's cues as the tests read them (strictly), or what is wrong with the file. */
export function storyboardCues(text: string): Cue[] | string {
  try {
    const cues = parseStoryboardVtt(text);
    return cues.length > 0 ? cues : 'no cues';
  } catch (error) {
    return (error as Error).message;
  }
}

/**
 * Storyboard: cues contiguous from 0 to the duration, every tile inside its sheet and not blank,
 * adjacent tiles different, and sampled tiles showing their own time.
 */
async function checkStoryboard(
  outDir: string,
  manifest: Manifest,
  video: Media,
  refs: References,
): Promise<string[]> {
  const vtt = manifest.outputs.find((o) => o.kind === 'storyboard-vtt');
  const sheets = manifest.outputs.filter((o) => o.kind === 'storyboard');
  if (!vtt || sheets.length === 0) return ['manifest.json lists no storyboard sheets or no storyboard.vtt'];
  const cues = storyboardCues(await readFile(resolve(outDir, vtt.file), 'utf8'));
  if (typeof cues === 'string') return [`${vtt.file}: ${cues}`];
  const problems: string[] = [];
  const duration = manifest.input?.duration ?? video.duration;
  if (Math.abs(cues[0]!.start) > 0.001) problems.push(`${vtt.file} starts at ${cues[0]!.start} s, not 0`);
  cues.forEach((cue, i) => {
    const next = cues[i + 1];
    if (next && Math.abs(next.start - cue.end) > 0.001)
      problems.push(`${vtt.file}: gap or overlap at ${cue.end} s`);
  });
  if (Math.abs(cues.at(-1)!.end - duration) > 0.05) {
    problems.push(`${vtt.file} ends at ${cues.at(-1)!.end} s, the video at ${duration} s`);
  }

  // Tile times: from the manifest when it lists one per cue, otherwise the middle of each cue.
  const listed = sheets.flatMap((s) => s.times ?? []);
  const times =
    listed.length === cues.length
      ? listed
      : cues.map((c) => Math.round(((c.start + c.end) / 2) * 1000) / 1000);
  const decoded = new Map<string, Raster>();
  const tiles: Tile[] = [];
  for (const [i, cue] of cues.entries()) {
    let sheet = decoded.get(cue.file);
    if (!sheet) {
      const image = await decodeImage(resolve(outDir, cue.file)).catch((error: Error) => error);
      if (image instanceof Error) return [...problems, `${cue.file} does not decode: ${image.message}`];
      sheet = image;
      decoded.set(cue.file, sheet);
    }
    try {
      tiles.push({ raster: crop(sheet, cue.x, cue.y, cue.w, cue.h), time: times[i]!, label: `cue ${i + 1}` });
    } catch (error) {
      return [...problems, `${vtt.file} cue ${i + 1}: ${(error as Error).message}`];
    }
  }
  problems.push(...tileProblems(tiles, video.period));
  problems.push(...(await timeProblems(tiles, video, refs, SAMPLED_TILES)));
  return problems.map((p) => `storyboard: ${p}`);
}

/**
 * Our `generate` output folder: manifest.json matches the files, the strip passes `checkStrip`
 * with the manifest's times, and, when asked for, the poster and storyboard pass theirs.
 */
export async function checkOurOutputs(
  outDir: string,
  kinds: ('strip' | 'poster' | 'storyboard')[],
  video: Media,
  refs: References,
): Promise<string[]> {
  const manifest = await readManifest(outDir);
  if (typeof manifest === 'string') return [manifest];
  const problems = await manifestFileProblems(outDir, manifest);
  for (const kind of kinds) {
    if (kind === 'strip') problems.push(...(await checkOurStrip(outDir, manifest, video, refs)));
    if (kind === 'poster') {
      const posters = manifest.outputs.filter((o) => o.kind === 'poster');
      if (posters.length !== 1) problems.push(`manifest.json lists ${posters.length} posters, expected 1`);
      for (const poster of posters) problems.push(...(await checkPoster(outDir, poster)));
    }
    if (kind === 'storyboard') problems.push(...(await checkStoryboard(outDir, manifest, video, refs)));
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------
// The storyboard's HLS and DASH track files and the Roku BIF, when the manifest lists them

/**
 * Each HLS image playlist names the sheets of its width, in order, and ends where the video does;
 * each MPD names them through its template; the BIF has a frame every interval from 0 over the
 * whole video, each a JPEG of the listed size and not blank, no two neighbours alike.
 */
export async function checkOurTracks(outDir: string, video: Media): Promise<string[]> {
  const manifest = await readManifest(outDir);
  if (typeof manifest === 'string') return [manifest];
  const outputs = manifest.outputs as (ManifestOutput & { storyboardWidth?: number; interval?: number })[];
  const problems: string[] = [];
  const sheetsOf = (width: number | undefined) =>
    outputs.filter((o) => o.kind === 'storyboard' && o.storyboardWidth === width).map((o) => o.file);
  for (const track of outputs.filter((o) => o.kind === 'storyboard-hls')) {
    const text = await readFile(resolve(outDir, track.file), 'utf8');
    const named = text.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
    const seconds = [...text.matchAll(/^#EXTINF:([\d.]+),$/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
    if (!text.includes('#EXT-X-IMAGES-ONLY') || named.join() !== sheetsOf(track.storyboardWidth).join())
      problems.push(`${track.file} does not list the sheets ${sheetsOf(track.storyboardWidth).join(', ')}`);
    const duration = manifest.input?.duration ?? video.duration;
    if (Math.abs(seconds - duration) > 0.01)
      problems.push(`${track.file} lasts ${seconds} s, the video ${duration} s`);
  }
  for (const track of outputs.filter((o) => o.kind === 'storyboard-dash')) {
    const text = await readFile(resolve(outDir, track.file), 'utf8');
    const media = /media="([^"]+)"/.exec(text)?.[1] ?? '';
    const sheets = sheetsOf(track.storyboardWidth);
    const first = sheets.length === 1 ? media : media.replace('$Number$', '0');
    if (!text.includes('contentType="image"') || first !== sheets[0])
      problems.push(`${track.file}: template ${media} does not name ${sheets[0]}`);
  }
  for (const bif of outputs.filter((o) => o.kind === 'bif'))
    problems.push(...(await checkBif(outDir, bif, video)));
  return problems;
}

async function checkBif(
  outDir: string,
  output: ManifestOutput & { interval?: number },
  video: Media,
): Promise<string[]> {
  const data = await readFile(resolve(outDir, output.file));
  const magic = [0x89, 0x42, 0x49, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];
  if (magic.some((b, i) => data[i] !== b)) return [`${output.file} has no BIF magic`];
  const count = data.readUInt32LE(12);
  const multiplier = data.readUInt32LE(16) || 1000;
  const interval = output.interval ?? 10;
  const expected = Math.max(1, Math.ceil(video.duration / interval - 1e-9));
  if (count !== expected)
    return [`${output.file} has ${count} frames, expected ${expected} (one every ${interval} s)`];
  const problems: string[] = [];
  const tiles: Tile[] = [];
  const scratch = resolve(outDir, 'bif-check.jpg');
  for (let i = 0; i < count; i++) {
    const time = (data.readUInt32LE(64 + 8 * i) * multiplier) / 1000;
    const start = data.readUInt32LE(64 + 8 * i + 4);
    const end = data.readUInt32LE(64 + 8 * (i + 1) + 4);
    if (Math.abs(time - i * interval) > 1e-6)
      problems.push(`${output.file} frame ${i} at ${time} s, not ${i * interval} s`);
    await writeFile(scratch, data.subarray(start, end));
    const image = await decodeImage(scratch).catch((error: Error) => error);
    if (image instanceof Error) {
      problems.push(`${output.file} frame ${i} does not decode: ${image.message}`);
      continue;
    }
    if (image.width !== output.width || image.height !== output.height)
      problems.push(
        `${output.file} frame ${i} is ${image.width}x${image.height}, not ${output.width}x${output.height}`,
      );
    tiles.push({ raster: image, time, label: `bif frame ${i}` });
  }
  await rm(scratch, { force: true });
  if (
    data.readUInt32LE(64 + 8 * count) !== 0xffffffff ||
    data.readUInt32LE(64 + 8 * count + 4) !== data.length
  )
    problems.push(`${output.file}: the index is not closed by 0xFFFFFFFF and the end offset`);
  problems.push(...tileProblems(tiles, video.period));
  return problems;
}
