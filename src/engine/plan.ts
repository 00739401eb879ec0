import { selectMarks } from './frameplan.js';
import type { GenerateOptions } from './options.js';
import type { InputFacts } from './types.js';
import { stillFile } from './still-format.js';

/** Pure planning: which times to show, at which sizes, through which filters. No I/O. */

export interface Size {
  width: number;
  height: number;
}

const even = (n: number) => Math.max(2, 2 * Math.round(n / 2));

/** Fits the display aspect ratio to a width or a height, even dimensions (what yuv420 needs). */
export function fitSize(
  facts: Pick<InputFacts, 'displayWidth' | 'displayHeight'>,
  box: { width?: number; height?: number },
): Size {
  const aspect = facts.displayWidth / facts.displayHeight;
  if (box.width !== undefined) return { width: even(box.width), height: even(box.width / aspect) };
  if (box.height !== undefined) return { width: even(box.height * aspect), height: even(box.height) };
  return { width: even(facts.displayWidth), height: even(facts.displayHeight) };
}

/** `count` times spread evenly over the video, each at the middle of its slot. */
export function evenlySpacedTimes(duration: number, count: number): number[] {
  if (duration <= 0) return Array.from({ length: count }, () => 0);
  return Array.from({ length: count }, (_, i) => round3((duration * (i + 0.5)) / count));
}

export const round3 = (n: number) => Math.round(n * 1000) / 1000;

export interface StripPlan {
  times: number[];
  tile: Size;
  cols: number;
  rows: number;
  /** Decoded size of the whole strip image. */
  size: Size;
}

export function planStrip(facts: InputFacts, options: GenerateOptions): StripPlan {
  const tile = fitSize(facts, { width: options.width, height: options.height });
  const { cols, rows, padding, margin } = options;
  return {
    times: evenlySpacedTimes(facts.duration, cols * rows),
    tile,
    cols,
    rows,
    size: {
      width: cols * tile.width + (cols - 1) * padding + 2 * margin,
      height: rows * tile.height + (rows - 1) * padding + 2 * margin,
    },
  };
}

export interface StoryboardTile {
  /** The cue this tile answers for, in seconds. */
  start: number;
  end: number;
  /** Where in the video the picture is taken. */
  time: number;
  sheet: number;
  x: number;
  y: number;
}

export interface StoryboardPlan {
  tile: Size;
  /** Seconds a tile stands for, rounded to the millisecond as the VTT and JSON write times. */
  interval: number;
  /** The same, unrounded: cue `i` starts at `round3(i * secondsPerTile)`. */
  secondsPerTile: number;
  /** The video's duration the last cue ends at. */
  duration: number;
  /** What every file of this width is named from (`storyboard`, `storyboard-320w`). */
  base: string;
  cols: number;
  /** Rows of each sheet (the last one may be shorter). */
  sheetRows: number[];
  sheetFiles: string[];
  tiles: StoryboardTile[];
}

/**
 * What the files of one storyboard width start with: `storyboard` for the first width (the names
 * players and the dashboard know), `storyboard-<W>w` for each further one (a suffix that no sheet
 * number can produce: `storyboard-320w-0.jpg`).
 */
export function storyboardBase(width: number, first: boolean): string {
  return first ? 'storyboard' : `storyboard-${width}w`;
}

/**
 * Most tiles of one storyboard width: a tile every 8.64 s over the longest video accepted (24 h),
 * every second over 2.7 h. A message asking for a tile every half second of a day-long video at
 * grid 1 would otherwise make 172 800 sheets per width, each a blob to upload and a cue to parse.
 */
export const MAX_STORYBOARD_TILES = 10_000;
/** Most sheet files of one storyboard width (a grid of 1 puts one tile in each). */
export const MAX_STORYBOARD_SHEETS = 1_000;

/**
 * One tile every `storyboardInterval` seconds, at least `storyboardMinTiles` tiles (short videos get
 * a finer interval, down to a millisecond), at most grid x grid tiles a sheet. Past
 * `MAX_STORYBOARD_TILES` tiles or `MAX_STORYBOARD_SHEETS` sheets the interval grows to fit, and
 * storyboard.json says the interval used. Cues are contiguous from 0 to the duration. `width` and
 * `base` choose one of the storyboard widths: the tile times and grid are the same for every width.
 */
export function planStoryboard(
  facts: InputFacts,
  options: GenerateOptions,
  width: number = options.storyboardWidth,
  base = 'storyboard',
): StoryboardPlan {
  const duration = Math.max(facts.duration, 0.001);
  const byInterval = Math.ceil(duration / options.storyboardInterval - 1e-9);
  // A cue lasts a millisecond at least, the resolution of WebVTT times: a cue that ends where it
  // starts is invalid WebVTT (a one-frame video asked for 10 tiles would get ten such cues).
  const grid = options.storyboardGrid;
  const most = Math.min(
    MAX_STORYBOARD_TILES,
    MAX_STORYBOARD_SHEETS * grid * grid,
    Math.floor(duration * 1000),
  );
  const count = Math.min(Math.max(options.storyboardMinTiles, byInterval), most);
  const interval = count === byInterval ? options.storyboardInterval : duration / count;
  const tile = fitSize(facts, { width });
  const perSheetCols = Math.min(grid, count);
  const perSheet = perSheetCols * grid;
  const sheets = Math.ceil(count / perSheet);
  const sheetRows = Array.from({ length: sheets }, (_, s) =>
    Math.ceil(Math.min(perSheet, count - s * perSheet) / perSheetCols),
  );
  const sheetFiles =
    sheets === 1
      ? [stillFile(base, options.format)]
      : sheetRows.map((_, s) => stillFile(`${base}-${s}`, options.format));
  const tiles: StoryboardTile[] = [];
  for (let i = 0; i < count; i++) {
    const start = round3(i * interval);
    const end = i === count - 1 ? round3(duration) : round3((i + 1) * interval);
    const inSheet = i % perSheet;
    tiles.push({
      start,
      end,
      time: round3(Math.min((start + end) / 2, duration)),
      sheet: Math.floor(i / perSheet),
      x: (inSheet % perSheetCols) * tile.width,
      y: Math.floor(inSheet / perSheetCols) * tile.height,
    });
  }
  return {
    tile,
    interval: round3(interval),
    secondsPerTile: interval,
    duration: round3(duration),
    base,
    cols: perSheetCols,
    sheetRows,
    sheetFiles,
    tiles,
  };
}

/** Candidate times for the poster: spread over the body of the video, away from the very start and end. */
export function posterCandidateTimes(duration: number, count = 12): number[] {
  if (duration <= 0) return [0];
  const from = duration * 0.05;
  const to = duration * 0.9;
  return Array.from({ length: count }, (_, i) => round3(from + ((to - from) * i) / Math.max(1, count - 1)));
}

/** Seconds either side of `posterTime` the poster may come from. */
export const POSTER_WINDOW = 1;

/**
 * Candidate times for a poster asked for at `posterTime`: evenly over the second either side of it,
 * the time clamped to the video first (a time past the end means the end).
 */
export function posterWindowTimes(duration: number, posterTime: number, count = 9): number[] {
  const end = Math.max(0, duration);
  const centre = Math.min(Math.max(0, posterTime), end);
  const from = Math.max(0, centre - POSTER_WINDOW);
  const to = Math.min(end, centre + POSTER_WINDOW);
  const times = Array.from({ length: count }, (_, i) => round3(from + ((to - from) * i) / (count - 1)));
  return [...new Set(times)];
}

/**
 * BIF frames a file holds at most: one every 10 s (Roku's interval) over the 24 hours of the
 * default duration limit. A longer video or a shorter interval is coarsened to fit.
 */
export const MAX_BIF_FRAMES = 8640;

export interface BifPlan {
  /** Whole seconds between frames: the option, or the smallest whole number that fits the cap. */
  interval: number;
  /** Frame times, seconds from the start: 0, interval, 2 x interval... while before the end. */
  times: number[];
  size: Size;
}

/**
 * One frame every `interval` seconds from 0 (at least the frame at 0, however short the video),
 * `width` px wide but never wider than the picture; coarsened past MAX_BIF_FRAMES frames.
 */
export function planBif(
  facts: Pick<InputFacts, 'duration' | 'displayWidth' | 'displayHeight'>,
  interval: number,
  width: number,
): BifPlan {
  const duration = Math.max(0, facts.duration);
  const framesAt = (every: number) => Math.max(1, Math.ceil(duration / every - 1e-9));
  const used = framesAt(interval) <= MAX_BIF_FRAMES ? interval : Math.ceil(duration / MAX_BIF_FRAMES);
  return {
    interval: used,
    times: Array.from({ length: framesAt(used) }, (_, i) => i * used),
    size: fitSize(facts, { width: Math.min(width, facts.displayWidth) }),
  };
}

/** Start times of the short clips an animated preview is made of. */
export function animatedClipTimes(duration: number, clips = 6, clipSeconds = 1, fps = 10): number[] {
  const usable = Math.max(0, duration - clipSeconds);
  const starts =
    clips === 1
      ? [usable / 2]
      : evenlySpacedTimes(usable + clipSeconds, clips).map((t) => Math.min(t, usable));
  const frames: number[] = [];
  for (const start of starts) {
    for (let f = 0; f < clipSeconds * fps; f++) frames.push(round3(Math.min(start + f / fps, duration)));
  }
  return frames;
}

/**
 * The filters that turn a decoded frame into a correct picture at `size` (display orientation):
 * deinterlace, scale with square pixels, tone-map HDR to SDR, honour rotation.
 */
export function normaliseFilters(facts: InputFacts, size: Size): string[] {
  const turned = facts.rotation === 90 || facts.rotation === 270;
  const coded = turned ? { width: size.height, height: size.width } : size;
  const filters: string[] = [];
  // One field of an interlaced frame is a clean half-height picture: no combing, no need for
  // neighbouring frames (which, in a selection of far-apart frames, belong to other times).
  if (facts.interlaced) filters.push('field=type=top');
  filters.push(`scale=${coded.width}:${coded.height}:flags=bicubic`);
  if (facts.hdr) filters.push(...toneMapFilters(facts.hdr));
  if (facts.rotation === 90) filters.push('transpose=clock');
  else if (facts.rotation === 270) filters.push('transpose=cclock');
  else if (facts.rotation === 180) filters.push('hflip', 'vflip');
  filters.push('setsar=1');
  return filters;
}

/** PQ or HLG to BT.709 SDR: linearise, tone-map (hable keeps highlights and saturation), re-encode. */
export function toneMapFilters(hdr: 'pq' | 'hlg'): string[] {
  const transfer = hdr === 'pq' ? 'smpte2084' : 'arib-std-b67';
  return [
    `zscale=tin=${transfer}:min=bt2020nc:pin=bt2020:rin=tv:t=linear:npl=100`,
    'format=gbrpf32le',
    'zscale=p=bt709',
    'tonemap=tonemap=hable:desat=0',
    'zscale=t=bt709:m=bt709:r=tv',
    'format=yuv420p',
  ];
}

/** Selects the frames a one-output selection file marks as wanted (mask 1, see frameplan.ts). */
export const SELECT_MARKED_FRAMES = selectMarks(1);

/** `HH:MM:SS.mmm`, independent of locale. */
export function vttTime(seconds: number): string {
  const ms = Math.round(seconds * 1000);
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = Math.floor((ms % 60_000) / 1000);
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${pad(h)}:${pad(m)}:${pad(s)}.${pad(ms % 1000, 3)}`;
}

export function storyboardVtt(plan: StoryboardPlan): string {
  const cues = plan.tiles.map(
    (t) =>
      `${vttTime(t.start)} --> ${vttTime(t.end)}\n${plan.sheetFiles[t.sheet]}#xywh=${t.x},${t.y},${plan.tile.width},${plan.tile.height}`,
  );
  return `WEBVTT\n\n${cues.join('\n\n')}\n`;
}

export function storyboardJson(plan: StoryboardPlan): object {
  return {
    interval: plan.interval,
    tileWidth: plan.tile.width,
    tileHeight: plan.tile.height,
    columns: plan.cols,
    sheets: plan.sheetFiles.map((file, i) => ({
      file,
      width: plan.cols * plan.tile.width,
      height: plan.sheetRows[i]! * plan.tile.height,
    })),
    tiles: plan.tiles.map((t) => ({
      start: t.start,
      end: t.end,
      time: t.time,
      file: plan.sheetFiles[t.sheet],
      x: t.x,
      y: t.y,
      width: plan.tile.width,
      height: plan.tile.height,
    })),
  };
}
