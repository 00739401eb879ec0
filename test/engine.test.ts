/**
 * Engine acceptance: `generate` on every kind of video the product promises to handle, judged the
 * way a person would judge the outputs. Decoded image sizes against the display aspect ratio, tiles
 * showing the frame of the time the manifest says (matched against the source's own frames),
 * posters that are neither dark nor washed out nor combed, storyboard cues that tile the timeline,
 * and a manifest that describes exactly the files on disk and is written last.
 *
 * Outputs stay in test-artifacts/engine/<case>/ so a failure can be looked at.
 */
import assert from 'node:assert/strict';
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { generate } from '../src/engine/generate.js';
import type { GenerateOptionsInput } from '../src/engine/options.js';
import type { Manifest, OutputFile } from '../src/engine/types.js';
import {
  combing,
  decodeGray,
  fingerprint,
  fingerprintDistance,
  frameAt,
  imageSize,
  meanLuma,
  meanOf,
  saturation,
  saveFrameAt,
  tilesOf,
  videoFingerprints,
  type Crop,
  type FrameFingerprint,
  type Gray,
} from './support/images.js';
import { CITY, ffprobe, media, REPO_ROOT, skipWithout, type MediaName } from './support/media.js';
import { parseStoryboardVtt, type Cue } from './support/tracks.js';

const ARTIFACTS = join(REPO_ROOT, 'test-artifacts', 'engine');

/** Small tiles keep the suite fast; the fixtures test runs the real defaults (600 px). */
const SMALL = { width: 160, padding: 4, margin: 6, color: 'white' } as const;

// ---------------------------------------------------------------------------------------------
// What the source is, found independently of the engine (ffprobe).

interface SourceFacts {
  path: string;
  displayWidth: number;
  displayHeight: number;
  /** Seconds, from the video stream when the container says, else the container's duration. */
  duration: number;
  frameDuration: number;
  /**
   * When the video stream starts after the container (Matroska with audio priming, say): a time
   * counted from either start is accepted, they differ by less than a frame.
   */
  videoStart: number;
  hasAudio: boolean;
}

async function sourceFacts(path: string): Promise<SourceFacts> {
  const json = (await ffprobe(path, ['-show_streams', '-show_format'])) as {
    streams: {
      codec_type: string;
      width?: number;
      height?: number;
      sample_aspect_ratio?: string;
      duration?: string;
      avg_frame_rate?: string;
      start_time?: string;
      side_data_list?: { rotation?: number }[];
    }[];
    format: { duration?: string; start_time?: string };
  };
  const video = json.streams.find((s) => s.codec_type === 'video');
  assert.ok(video?.width && video.height, `${path}: no video stream`);
  const [num, den] = (video.sample_aspect_ratio ?? '1:1').split(':').map(Number);
  const sar = num && den ? num / den : 1;
  const rotation = video.side_data_list?.find((d) => typeof d.rotation === 'number')?.rotation ?? 0;
  const turned = Math.abs(rotation) % 180 === 90;
  const width = Math.round(video.width * sar);
  const [rn, rd] = (video.avg_frame_rate ?? '25/1').split('/').map(Number);
  return {
    path,
    displayWidth: turned ? video.height : width,
    displayHeight: turned ? width : video.height,
    duration: Number(video.duration ?? json.format.duration),
    frameDuration: rn && rd ? rd / rn : 0.04,
    videoStart: Math.max(0, Number(video.start_time ?? 0) - Number(json.format.start_time ?? 0)) || 0,
    hasAudio: json.streams.some((s) => s.codec_type === 'audio'),
  };
}

// ---------------------------------------------------------------------------------------------
// Running a case.

interface Run {
  name: string;
  source: SourceFacts;
  outDir: string;
  manifest: Manifest;
  options: GenerateOptionsInput;
}

async function run(name: string, path: string, options: GenerateOptionsInput = SMALL): Promise<Run> {
  const outDir = join(ARTIFACTS, name);
  await rm(outDir, { recursive: true, force: true });
  const [source, manifest] = await Promise.all([
    sourceFacts(path),
    generate({ source: { kind: 'file', path }, outDir, options }),
  ]);
  return { name, source, outDir, manifest, options };
}

const output = (r: Run, kind: OutputFile['kind']) => r.manifest.outputs.filter((o) => o.kind === kind);

function one(r: Run, kind: OutputFile['kind']): OutputFile {
  const found = output(r, kind);
  assert.equal(
    found.length,
    1,
    `${r.name}: exactly one ${kind} output, got ${found.map((o) => o.file).join(', ')}`,
  );
  return found[0]!;
}

const CONTENT_TYPES: Record<string, string> = {
  jpg: 'image/jpeg',
  vtt: 'text/vtt',
  json: 'application/json',
  webp: 'image/webp',
  gif: 'image/gif',
};

/**
 * The manifest describes exactly the files on disk: every file listed, with its byte size, type
 * and decoded dimensions; nothing else in the folder (no temp files); written last; and equal to
 * what generate returned.
 */
async function checkManifest(r: Run): Promise<void> {
  const files = (await readdir(r.outDir)).sort();
  const listed = r.manifest.outputs.map((o) => o.file);
  assert.equal(new Set(listed).size, listed.length, `${r.name}: a file listed twice`);
  assert.deepEqual(files, [...listed, 'manifest.json'].sort(), `${r.name}: files on disk vs manifest`);
  for (const file of listed) {
    assert.ok(!file.includes('/') && !file.includes('\\'), `${r.name}: ${file} is a bare file name`);
  }

  const onDisk = JSON.parse(await readFile(join(r.outDir, 'manifest.json'), 'utf8')) as Manifest;
  assert.deepEqual(
    onDisk,
    JSON.parse(JSON.stringify(r.manifest)),
    `${r.name}: manifest.json = returned manifest`,
  );
  assert.equal(onDisk.version, 1);

  const manifestTime = (await stat(join(r.outDir, 'manifest.json'))).mtimeMs;
  for (const o of r.manifest.outputs) {
    const path = join(r.outDir, o.file);
    const info = await stat(path);
    assert.equal(o.bytes, info.size, `${r.name}: ${o.file} bytes`);
    assert.ok(info.size > 0, `${r.name}: ${o.file} is empty`);
    assert.ok(info.mtimeMs <= manifestTime, `${r.name}: ${o.file} written after manifest.json`);
    assert.equal(o.contentType, CONTENT_TYPES[o.file.split('.').pop()!], `${r.name}: ${o.file} content type`);
    if (o.file.endsWith('.jpg') || o.file.endsWith('.gif')) {
      const size = await imageSize(path);
      assert.deepEqual({ width: o.width, height: o.height }, size, `${r.name}: ${o.file} dimensions`);
    } else if (o.file.endsWith('.webp')) {
      const webp = await webpInfo(path);
      assert.deepEqual({ width: o.width, height: o.height }, webp.size, `${r.name}: ${o.file} dimensions`);
    }
  }

  const input = r.manifest.input;
  assert.deepEqual(
    [input.displayWidth, input.displayHeight],
    [r.source.displayWidth, r.source.displayHeight],
    `${r.name}: display size in the manifest`,
  );
  assert.ok(
    Math.abs(input.duration - r.source.duration) <= Math.max(0.1, r.source.frameDuration),
    `${r.name}: duration ${input.duration} vs ffprobe ${r.source.duration}`,
  );
  assert.equal(input.size, (await stat(r.source.path)).size, `${r.name}: input size`);
  assert.equal(input.hasAudio, r.source.hasAudio, `${r.name}: hasAudio`);

  const wanted = new Set(r.manifest.options.outputs);
  assert.equal(output(r, 'strip').length, wanted.has('strip') ? 1 : 0, `${r.name}: strip`);
  assert.equal(output(r, 'poster').length, wanted.has('poster') ? 1 : 0, `${r.name}: poster`);
  assert.equal(output(r, 'animated').length, wanted.has('animated') ? 1 : 0, `${r.name}: animated preview`);
  assert.equal(
    output(r, 'storyboard-vtt').length,
    wanted.has('storyboard') ? 1 : 0,
    `${r.name}: storyboard.vtt`,
  );
}

/** Tile height a width implies at the display aspect ratio (the engine may round to even). */
function expectHeight(source: SourceFacts, width: number): number {
  return (width * source.displayHeight) / source.displayWidth;
}

function assertNear(actual: number, expected: number, tolerance: number, what: string): void {
  assert.ok(
    Math.abs(actual - expected) <= tolerance,
    `${what}: ${actual}, expected ${expected} ± ${tolerance}`,
  );
}

interface StripLayout {
  cols: number;
  rows: number;
  tileW: number;
  tileH: number;
  padding: number;
  margin: number;
}

/**
 * strip.jpg: decoded size = cols x tile + padding between + margin around; tiles at the display
 * aspect ratio; background colour in the gaps; one time per tile, each from its own slot of the
 * timeline, in order.
 */
async function checkStrip(r: Run): Promise<{ layout: StripLayout; gray: Gray; times: number[] }> {
  const o = r.manifest.options;
  const strip = one(r, 'strip');
  assert.equal(strip.file, 'strip.jpg');
  const size = await imageSize(join(r.outDir, 'strip.jpg'));
  const inner = (total: number, count: number) => (total - 2 * o.margin - (count - 1) * o.padding) / count;
  const tileW = inner(size.width, o.cols);
  const tileH = inner(size.height, o.rows);
  assert.ok(
    Number.isInteger(tileW) && Number.isInteger(tileH),
    `${r.name}: strip ${size.width}x${size.height}`,
  );
  if (r.options.height !== undefined) {
    assertNear(tileH, r.options.height, 1, `${r.name}: tile height`);
    assertNear(tileW, (tileH * r.source.displayWidth) / r.source.displayHeight, 2, `${r.name}: tile width`);
  } else {
    assert.equal(tileW, r.options.width ?? 600, `${r.name}: tile width`);
    assertNear(tileH, expectHeight(r.source, tileW), 2, `${r.name}: tile height (display aspect)`);
  }

  const gray = await decodeGray(join(r.outDir, 'strip.jpg'));
  const layout = { cols: o.cols, rows: o.rows, tileW, tileH, padding: o.padding, margin: o.margin };
  if (o.margin >= 4 || o.padding >= 4) {
    const expected = o.color === 'white' ? 255 : o.color === 'black' ? 0 : undefined;
    if (expected !== undefined) {
      const gaps: Crop[] = [];
      if (o.margin >= 4) gaps.push({ x: 0, y: 0, width: size.width, height: o.margin - 2 });
      if (o.padding >= 4 && o.cols > 1) {
        gaps.push({
          x: o.margin + tileW + 1,
          y: o.margin,
          width: o.padding - 2,
          height: size.height - 2 * o.margin,
        });
      }
      for (const gap of gaps) {
        assertNear(
          meanOf(gray, gap),
          expected,
          40,
          `${r.name}: background ${o.color} at ${JSON.stringify(gap)}`,
        );
      }
    }
  }

  const times = strip.times ?? [];
  const count = o.cols * o.rows;
  assert.equal(strip.tiles, count, `${r.name}: strip tiles`);
  assert.equal(times.length, count, `${r.name}: strip times`);
  checkSlots(r, times, (i) => [
    (i * r.manifest.input.duration) / count,
    ((i + 1) * r.manifest.input.duration) / count,
  ]);
  return { layout, gray, times };
}

/** Each time inside its own slot of the timeline (one frame of slack), never before the previous one. */
function checkSlots(r: Run, times: number[], slot: (i: number) => [number, number]): void {
  const slack = r.source.frameDuration + 0.002;
  times.forEach((t, i) => {
    const [from, to] = slot(i);
    assert.ok(
      t >= Math.max(0, from - slack) && t <= to + slack,
      `${r.name}: tile ${i} shows ${t} s, outside its slot ${from.toFixed(3)}..${to.toFixed(3)} s`,
    );
    if (i > 0)
      assert.ok(t >= times[i - 1]!, `${r.name}: tile ${i} (${t} s) before tile ${i - 1} (${times[i - 1]} s)`);
  });
}

/**
 * Strictly increasing times, and on the clock videos (where frames a few hundredths of a second
 * apart differ) neighbouring tiles that differ at least half as much as the frames of their times:
 * no tile repeats another.
 */
function checkDistinct(
  r: Run,
  what: string,
  times: number[],
  tiles: Float64Array[],
  frames: FrameFingerprint[] | undefined,
): void {
  for (let i = 1; i < times.length; i++) {
    assert.ok(
      times[i]! > times[i - 1]!,
      `${r.name}: ${what} tiles ${i - 1} and ${i} both show ${times[i]} s`,
    );
    if (!frames) continue;
    const expected = fingerprintDistance(
      frames[indexShownAt(frames, times[i]!)]!.fingerprint,
      frames[indexShownAt(frames, times[i - 1]!)]!.fingerprint,
    );
    const d = fingerprintDistance(tiles[i]!, tiles[i - 1]!);
    assert.ok(
      d >= 0.5 * expected,
      `${r.name}: ${what} tiles ${i - 1} and ${i} look alike (${d.toFixed(3)}; their frames: ${expected.toFixed(3)})`,
    );
  }
}

const sd = (f: Float64Array) => {
  const mean = f.reduce((s, v) => s + v, 0) / f.length;
  return Math.sqrt(f.reduce((s, v) => s + (v - mean) ** 2, 0) / f.length);
};

/**
 * Each tile shows the frame on screen at its reported time: it matches that frame at least as well
 * as the frames just before and after it (one-frame precision) and as any other frame of the video
 * (not another moment that looks alike), within a small tolerance for scaling and JPEG. Frames too
 * flat to tell apart (black) only need a flat tile.
 */
function checkTilesShowTheirTimes(
  r: Run,
  what: string,
  tiles: Float64Array[],
  times: number[],
  frames: FrameFingerprint[],
  maxDistance = 0.15,
): void {
  const slack = 0.01;
  tiles.forEach((tile, i) => {
    const time = times[i]!;
    const dist = (j: number) => fingerprintDistance(tile, frames[j]!.fingerprint);
    const candidates = [indexShownAt(frames, time), indexShownAt(frames, time + r.source.videoStart)];
    const k = candidates.reduce((a, b) => (dist(b) < dist(a) ? b : a));
    if (sd(frames[k]!.fingerprint) < 4) {
      assert.ok(sd(tile) < 8, `${r.name}: ${what} tile ${i} at ${time} s should be flat like its frame`);
      return;
    }
    const own = dist(k);
    let adjacent = Infinity;
    let other = Infinity;
    let best = k;
    frames.forEach((_, j) => {
      const d = dist(j);
      if (Math.abs(j - k) === 1) adjacent = Math.min(adjacent, d);
      else if (j !== k) other = Math.min(other, d);
      if (d < dist(best)) best = j;
    });
    if (own > maxDistance || own > adjacent + slack || own > other + slack) {
      assert.fail(
        `${r.name}: ${what} tile ${i} says ${time} s but looks like ${frames[best]!.time.toFixed(3)} s ` +
          `(distance to the frame of ${frames[k]!.time.toFixed(3)} s: ${own.toFixed(3)}, ` +
          `to the next/previous frame: ${adjacent.toFixed(3)}, to the best other frame: ${other.toFixed(3)})`,
      );
    }
  });
}

function indexShownAt(frames: FrameFingerprint[], seconds: number): number {
  let k = 0;
  frames.forEach((f, i) => {
    if (f.time <= seconds + 1e-3) k = i;
  });
  return k;
}

interface StoryboardJson {
  tiles: {
    start: number;
    end: number;
    time: number;
    file: string;
    x: number;
    y: number;
    width: number;
    height: number;
  }[];
}

/**
 * storyboard.vtt + storyboard.json + sheets: cues contiguous from 0 to the duration, each pointing
 * (by a relative path) inside a sheet that exists, tiles at the display aspect ratio; the JSON lists
 * the same tiles; each sheet's times fall in their cues.
 */
async function checkStoryboard(r: Run): Promise<{ cues: Cue[]; sheets: Map<string, Gray>; times: number[] }> {
  const o = r.manifest.options;
  const duration = r.manifest.input.duration;
  const cues = parseStoryboardVtt(await readFile(join(r.outDir, 'storyboard.vtt'), 'utf8'));
  const sheets = output(r, 'storyboard');
  assert.ok(sheets.length >= 1, `${r.name}: a storyboard sheet`);
  const names = sheets.map((s) => s.file);
  assert.deepEqual(
    names,
    sheets.length === 1 ? ['storyboard.jpg'] : sheets.map((_, i) => `storyboard-${i}.jpg`),
    `${r.name}: sheet names`,
  );

  const minTiles = Math.max(o.storyboardMinTiles, Math.ceil(duration / o.storyboardInterval - 1e-6));
  assert.ok(cues.length >= minTiles, `${r.name}: ${cues.length} cues, expected at least ${minTiles}`);
  assertNear(cues[0]!.start, 0, 0.0005, `${r.name}: first cue start`);
  assertNear(cues.at(-1)!.end, duration, 0.05, `${r.name}: last cue end vs duration`);
  const maxCue = Math.max(o.storyboardInterval, duration / o.storyboardMinTiles) + 0.002;
  const decoded = new Map<string, Gray>();
  for (const name of names) decoded.set(name, await decodeGray(join(r.outDir, name)));
  const used = new Set<string>();
  cues.forEach((c, i) => {
    assert.ok(c.end > c.start, `${r.name}: cue ${i} is empty (${c.start}..${c.end})`);
    assert.ok(c.end - c.start <= maxCue, `${r.name}: cue ${i} lasts ${c.end - c.start} s`);
    if (i > 0) assert.equal(c.start, cues[i - 1]!.end, `${r.name}: cue ${i} starts where cue ${i - 1} ends`);
    assert.ok(!/^[a-z]+:|^\/|\.\./i.test(c.file), `${r.name}: cue ${i} path ${c.file} is relative and local`);
    const sheet = decoded.get(c.file);
    assert.ok(sheet, `${r.name}: cue ${i} points to ${c.file}, which is not a sheet`);
    assert.ok(
      c.x >= 0 && c.y >= 0 && c.x + c.w <= sheet.width && c.y + c.h <= sheet.height,
      `${r.name}: cue ${i} #xywh=${c.x},${c.y},${c.w},${c.h} outside ${c.file} (${sheet.width}x${sheet.height})`,
    );
    assert.equal(c.w, o.storyboardWidth, `${r.name}: cue ${i} tile width`);
    assertNear(c.h, expectHeight(r.source, c.w), 2, `${r.name}: cue ${i} tile height (display aspect)`);
    const key = `${c.file}#${c.x},${c.y}`;
    assert.ok(!used.has(key), `${r.name}: cue ${i} reuses ${key}`);
    used.add(key);
  });
  for (const sheet of sheets) {
    const perSheet = cues.filter((c) => c.file === sheet.file).length;
    assert.equal(sheet.tiles, perSheet, `${r.name}: ${sheet.file} tile count`);
    assert.ok(
      perSheet <= o.storyboardGrid * o.storyboardGrid,
      `${r.name}: ${sheet.file} has ${perSheet} tiles`,
    );
  }

  const json = JSON.parse(await readFile(join(r.outDir, 'storyboard.json'), 'utf8')) as StoryboardJson;
  assert.equal(json.tiles.length, cues.length, `${r.name}: storyboard.json tiles vs cues`);
  json.tiles.forEach((t, i) => {
    const c = cues[i]!;
    assert.deepEqual(
      [t.file, t.x, t.y, t.width, t.height],
      [c.file, c.x, c.y, c.w, c.h],
      `${r.name}: storyboard.json tile ${i} vs cue`,
    );
    assertNear(t.start, c.start, 0.0015, `${r.name}: storyboard.json tile ${i} start`);
    assertNear(t.end, c.end, 0.0015, `${r.name}: storyboard.json tile ${i} end`);
    const slack = r.source.frameDuration + 0.002;
    assert.ok(
      t.time >= t.start - slack && t.time <= t.end + slack,
      `${r.name}: storyboard.json tile ${i} time ${t.time} outside ${t.start}..${t.end}`,
    );
  });

  const times = sheets.flatMap((s) => s.times ?? []);
  assert.equal(times.length, cues.length, `${r.name}: storyboard times in the manifest`);
  checkSlots(r, times, (i) => [cues[i]!.start, cues[i]!.end]);
  return { cues, sheets: decoded, times };
}

/** poster.jpg: as wide as the video up to posterWidth, display aspect ratio, one time. */
async function checkPoster(r: Run): Promise<{ gray: Gray; time: number }> {
  const poster = one(r, 'poster');
  assert.equal(poster.file, 'poster.jpg');
  const size = await imageSize(join(r.outDir, 'poster.jpg'));
  const width = Math.min(r.manifest.options.posterWidth, r.source.displayWidth);
  assertNear(size.width, width, 1, `${r.name}: poster width`);
  assertNear(size.height, expectHeight(r.source, size.width), 2, `${r.name}: poster height (display aspect)`);
  assert.equal(poster.times?.length, 1, `${r.name}: poster time`);
  const time = poster.times![0]!;
  assert.ok(time >= 0 && time <= r.manifest.input.duration, `${r.name}: poster time ${time}`);
  return { gray: await decodeGray(join(r.outDir, 'poster.jpg')), time };
}

interface Verified {
  strip?: Awaited<ReturnType<typeof checkStrip>>;
  storyboard?: Awaited<ReturnType<typeof checkStoryboard>>;
  poster?: Awaited<ReturnType<typeof checkPoster>>;
}

interface VerifyOptions {
  /** Check every tile against the source frame of its time (default true). */
  matchFrames?: boolean;
  /**
   * At least as many frames as tiles: every strip tile shows a different time (`times`, the
   * default), and also looks different from its neighbours (`visual`, for the clock videos).
   */
  distinct?: 'times' | 'visual' | false;
  maxDistance?: number;
}

/** All the person-like checks of one run. */
async function verify(r: Run, v: VerifyOptions = {}): Promise<Verified> {
  await checkManifest(r);
  const wanted = new Set(r.manifest.options.outputs);
  const result: Verified = {};
  const frames = v.matchFrames === false ? undefined : await videoFingerprints(r.source.path);
  if (wanted.has('strip')) {
    result.strip = await checkStrip(r);
    const { layout, gray, times } = result.strip;
    const tiles = tilesOf(
      gray,
      layout.cols,
      layout.rows,
      layout.tileW,
      layout.tileH,
      layout.padding,
      layout.margin,
    );
    const prints = tiles.map((t) => t.fingerprint);
    if (frames) checkTilesShowTheirTimes(r, 'strip', prints, times, frames, v.maxDistance);
    if (v.distinct !== false)
      checkDistinct(r, 'strip', times, prints, v.distinct === 'visual' ? frames : undefined);
  }
  if (wanted.has('storyboard')) {
    result.storyboard = await checkStoryboard(r);
    const { cues, sheets, times } = result.storyboard;
    if (frames) {
      const prints = cues.map((c) =>
        fingerprint(sheets.get(c.file)!, { x: c.x, y: c.y, width: c.w, height: c.h }),
      );
      checkTilesShowTheirTimes(r, 'storyboard', prints, times, frames, v.maxDistance);
    }
  }
  if (wanted.has('poster')) {
    result.poster = await checkPoster(r);
    if (frames) {
      checkTilesShowTheirTimes(
        r,
        'poster',
        [fingerprint(result.poster.gray)],
        [result.poster.time],
        frames,
        v.maxDistance,
      );
    }
  }
  return result;
}

/** Reads an (animated) WebP's canvas size and frame count from its RIFF chunks. */
async function webpInfo(path: string): Promise<{ size: { width: number; height: number }; frames: number }> {
  const bytes = await readFile(path);
  assert.equal(bytes.subarray(0, 4).toString('latin1'), 'RIFF');
  assert.equal(bytes.subarray(8, 12).toString('latin1'), 'WEBP');
  let frames = 0;
  let size = { width: 0, height: 0 };
  for (let at = 12; at + 8 <= bytes.length;) {
    const type = bytes.subarray(at, at + 4).toString('latin1');
    const length = bytes.readUInt32LE(at + 4);
    if (type === 'VP8X') {
      size = { width: bytes.readUIntLE(at + 12, 3) + 1, height: bytes.readUIntLE(at + 15, 3) + 1 };
    }
    if (type === 'ANMF') frames++;
    at += 8 + length + (length % 2);
  }
  return { size, frames };
}

// ---------------------------------------------------------------------------------------------

describe('engine: real footage (city-cc0.mp4 and clips cut from it)', () => {
  test('city-cc0.mp4 with the default options: 10x5 strip of 600 px tiles, poster, storyboard', async () => {
    const r = await run('city-defaults', CITY, {});
    assert.deepEqual(r.manifest.options.outputs, ['strip', 'poster', 'storyboard']);
    const { strip } = await verify(r);
    assert.deepEqual(await imageSize(join(r.outDir, 'strip.jpg')), {
      width: 6000,
      height: 5 * strip!.layout.tileH,
    });
    assert.equal(r.manifest.options.mode, 'fast');
    assert.equal(r.manifest.options.quality, 10);
  });

  test('cityB with a tile height, padding and margin', async () => {
    const r = await run('cityB-height', await media('cityB'), {
      height: 90,
      rows: 3,
      cols: 4,
      padding: 10,
      margin: 20,
      color: 'black',
    });
    const { strip } = await verify(r);
    assert.deepEqual([strip!.layout.tileW, strip!.layout.tileH], [160, 90]);
  });

  test('cityC accurate, with the animated preview', async () => {
    const r = await run('cityC-accurate', await media('cityC'), {
      ...SMALL,
      mode: 'accurate',
      outputs: ['strip', 'poster', 'storyboard', 'animated'],
    });
    await verify(r);
    const preview = one(r, 'animated');
    assert.equal(preview.file, 'preview.webp');
    const info = await webpInfo(join(r.outDir, 'preview.webp'));
    assert.ok(info.frames > 1, `preview.webp is animated (${info.frames} frames)`);
    assertNear(info.size.height, expectHeight(r.source, info.size.width), 2, 'preview aspect');
  });
});

describe('engine: timing of tiles', () => {
  test('accurate mode: every strip, storyboard and poster tile is the frame of its time', async () => {
    // A tile every 0.5 s, 3x3 a sheet: 20 storyboard tiles over storyboard-0/1/2.jpg.
    const r = await run('h264-accurate', await media('h264'), {
      ...SMALL,
      mode: 'accurate',
      storyboardInterval: 0.5,
      storyboardGrid: 3,
    });
    const { strip, storyboard } = await verify(r, { distinct: 'visual' });
    assert.deepEqual(
      output(r, 'storyboard').map((o) => [o.file, o.tiles]),
      [
        ['storyboard-0.jpg', 9],
        ['storyboard-1.jpg', 9],
        ['storyboard-2.jpg', 2],
      ],
    );
    assert.equal(storyboard!.cues.length, 20);
    // Accurate means the planned times themselves: evenly spread, one per slot.
    const gaps = strip!.times.slice(1).map((t, i) => t - strip!.times[i]!);
    assert.ok(
      Math.max(...gaps) - Math.min(...gaps) <= 0.041,
      `uneven strip times: ${strip!.times.join(', ')}`,
    );
  });

  test('fast mode (default): tiles still show their own times, keyframe every 1 s, 0.2 s per tile', async () => {
    const r = await run('h264-fast', await media('h264'));
    assert.equal(r.manifest.options.mode, 'fast');
    await verify(r, { distinct: 'visual' });
  });

  test('a single keyframe in 8 s: 50 different tiles, each of its own time', async () => {
    const r = await run('one-keyframe', await media('oneKeyframe'));
    await verify(r, { distinct: 'visual' });
  });

  test('fewer frames than tiles (10 frames, 50 tiles): every frame used, tiles in order', async () => {
    const r = await run('short-10-frames', await media('short10'));
    const { strip } = await verify(r, { distinct: false });
    const distinct = new Set(strip!.times.map((t) => Math.round(t * 10))).size;
    assert.ok(distinct >= 9, `only ${distinct} of the 10 frames appear in the strip`);
  });

  test('a one-frame video gives a valid strip, poster and storyboard', async () => {
    const r = await run('one-frame', await media('oneFrame'));
    const { strip, poster } = await verify(r, { distinct: false });
    assert.ok(strip!.times.every((t) => t === strip!.times[0]));
    assert.ok(meanOf(poster!.gray) > 60, 'the poster shows the picture');
  });

  test('variable frame rate: tiles match their times in both halves', async () => {
    const r = await run('vfr', await media('vfr'), { ...SMALL, mode: 'accurate' });
    await verify(r);
  });
});

describe('engine: containers and codecs', () => {
  const cases: [string, MediaName][] = [
    ['audio stream first', 'audioFirst'],
    ['Matroska (no frame count)', 'mkv'],
    ['VP9 WebM', 'webmVp9'],
    ['HEVC 10-bit', 'hevc10'],
    ['AV1', 'av1'],
    ['MPEG-TS (non-zero start time)', 'mpegts'],
    ['AVI / MPEG-4 part 2', 'avi'],
  ];
  for (const [label, name] of cases) {
    test(label, { skip: skipWithout(name) }, async () => {
      const r = await run(name, await media(name));
      await verify(r);
    });
  }
});

describe('engine: geometry', () => {
  for (const name of ['rotate90', 'rotate270'] as const) {
    test(`${name}: portrait tiles, upright (matching ffmpeg's own rotation)`, async () => {
      const animated = name === 'rotate270';
      const r = await run(name, await media(name), {
        ...SMALL,
        ...(animated
          ? { outputs: ['strip', 'poster', 'storyboard', 'animated'], animatedFormat: 'gif' }
          : {}),
      });
      const { strip, poster } = await verify(r);
      if (animated) {
        const gif = one(r, 'animated');
        assert.equal(gif.file, 'preview.gif');
        assert.ok(gif.height! > gif.width!, `portrait preview ${gif.width}x${gif.height}`);
        const frames = (await ffprobe(join(r.outDir, 'preview.gif'), [
          '-count_frames',
          '-show_entries',
          'stream=nb_read_frames',
        ])) as { streams: { nb_read_frames: string }[] };
        assert.ok(Number(frames.streams[0]!.nb_read_frames) > 1, 'preview.gif is animated');
      }
      assert.ok(
        strip!.layout.tileH > strip!.layout.tileW,
        `tile ${strip!.layout.tileW}x${strip!.layout.tileH}`,
      );
      assert.ok(poster!.gray.height > poster!.gray.width, 'portrait poster');
      assert.deepEqual([r.manifest.input.displayWidth, r.manifest.input.displayHeight], [180, 320]);
    });
  }

  test('non-square pixels (720x576, SAR 64:45): 16:9 tiles and poster', async () => {
    const r = await run('sar-wide', await media('sarWide'));
    const { strip, poster } = await verify(r);
    assert.deepEqual([strip!.layout.tileW, strip!.layout.tileH], [160, 90]);
    assert.deepEqual([poster!.gray.width, poster!.gray.height], [1024, 576]);
  });
});

describe('engine: picture quality', () => {
  test('interlaced: the poster is deinterlaced (no combing)', async () => {
    const r = await run('interlaced', await media('interlaced'));
    const { poster } = await verify(r);
    const woven = await frameAt(r.source.path, poster!.time, poster!.gray.width, {
      height: poster!.gray.height,
    });
    const ours = combing(poster!.gray);
    const naive = combing(woven);
    assert.ok(naive > 3, `the source frame at ${poster!.time} s combs (${naive.toFixed(2)})`);
    assert.ok(ours < 0.25 * naive, `poster combing ${ours.toFixed(2)} vs woven frame ${naive.toFixed(2)}`);
  });

  for (const name of ['hdrPq', 'hdrHlg'] as const) {
    test(
      `${name}: tone-mapped to SDR, colourful (not washed out) and not dark`,
      { skip: skipWithout(name) },
      async () => {
        const r = await run(name, await media(name));
        const { poster } = await verify(r);
        assert.equal(r.manifest.input.hdr, name === 'hdrPq' ? 'pq' : 'hlg');
        // What a naive conversion gives (ffmpeg reading the 10-bit bt2020 picture as if it were SDR),
        // and the SDR picture the HDR video was made from, at the poster's time.
        const naivePath = join(ARTIFACTS, `${name}-naive.jpg`);
        const originalPath = join(ARTIFACTS, `${name}-sdr-original.jpg`);
        await saveFrameAt(r.source.path, poster!.time, poster!.gray.width, naivePath);
        await saveFrameAt(await media('hdrSdrTwin'), poster!.time, poster!.gray.width, originalPath);
        const [ours, naive, original] = [
          await saturation(join(r.outDir, 'poster.jpg')),
          await saturation(naivePath),
          await saturation(originalPath),
        ];
        const detail = `poster ${ours.toFixed(1)}, naive ${naive.toFixed(1)}, SDR original ${original.toFixed(1)}`;
        assert.ok(ours > (name === 'hdrPq' ? 1.5 : 1.25) * naive, `saturation: ${detail}`);
        assert.ok(ours > 0.45 * original, `saturation: ${detail}`);
        const sheet = await saturation(join(r.outDir, 'storyboard.jpg'));
        assert.ok(sheet > 0.45 * original, `storyboard saturation ${sheet.toFixed(1)}: ${detail}`);
        const luma = meanOf(poster!.gray);
        const originalLuma = await meanLuma(originalPath);
        assert.ok(
          luma > 0.5 * originalLuma,
          `poster mean luma ${luma.toFixed(1)}, SDR original ${originalLuma.toFixed(1)}`,
        );
      },
    );
  }

  test('black intro (3 s): the poster is a bright frame from after it', async () => {
    const r = await run('black-intro', await media('blackIntro'));
    const { poster } = await verify(r);
    assert.ok(poster!.time >= 3, `poster at ${poster!.time} s, inside the black intro`);
    assert.ok(meanOf(poster!.gray) > 80, `poster mean luma ${meanOf(poster!.gray).toFixed(1)}`);
  });

  test('fade-in (4 s): the poster is not a faded frame', async () => {
    const r = await run('fade-in', await media('fadeIn'));
    const { poster } = await verify(r);
    // Fully faded in from 4 s on; the picture itself varies a little as the bars move.
    const full = Math.min(
      ...(await Promise.all(
        [4.4, 5, 5.6].map(async (t) => meanOf(await frameAt(r.source.path, t, poster!.gray.width))),
      )),
    );
    const ours = meanOf(poster!.gray);
    assert.ok(
      ours >= 0.9 * full,
      `poster mean luma ${ours.toFixed(1)}, fully faded-in frame ${full.toFixed(1)}`,
    );
  });
});

describe('engine: URL input', () => {
  let server: Server;
  let base = '';
  let served = 0;
  let video = Buffer.alloc(0);
  before(async () => {
    video = await readFile(await media('h264'));
    server = createServer((req, res) => {
      const m = /bytes=(\d+)-(\d*)/.exec(req.headers.range ?? '');
      const start = m ? Number(m[1]) : 0;
      const end = m?.[2] ? Math.min(Number(m[2]) + 1, video.length) : video.length;
      served += end - start;
      res.writeHead(m ? 206 : 200, {
        'content-type': 'video/mp4',
        'content-length': String(end - start),
        'accept-ranges': 'bytes',
        etag: '"v1"',
        ...(m ? { 'content-range': `bytes ${start}-${end - 1}/${video.length}` } : {}),
      });
      res.end(video.subarray(start, end));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  test('a 2-tile strip over http reads only the parts it needs (range requests)', async () => {
    const outDir = join(ARTIFACTS, 'url-ranges');
    await rm(outDir, { recursive: true, force: true });
    served = 0;
    const manifest = await generate({
      source: { kind: 'url', url: `${base}/h264.mp4` },
      outDir,
      options: { width: 160, cols: 2, rows: 1, outputs: ['strip'] },
    });
    const r: Run = {
      name: 'url-ranges',
      source: await sourceFacts(await media('h264')),
      outDir,
      manifest,
      options: { width: 160, cols: 2, rows: 1 },
    };
    await checkManifest(r);
    const { layout, gray, times } = await checkStrip(r);
    const tiles = tilesOf(
      gray,
      layout.cols,
      layout.rows,
      layout.tileW,
      layout.tileH,
      layout.padding,
      layout.margin,
    );
    checkTilesShowTheirTimes(
      r,
      'strip',
      tiles.map((t) => t.fingerprint),
      times,
      await videoFingerprints(await media('h264')),
    );
    assert.ok(served < 0.5 * video.length, `served ${served} of ${video.length} bytes`);
    assert.equal(manifest.input.etag, '"v1"');
  });
});
