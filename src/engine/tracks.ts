import type { StoryboardPlan } from './plan.js';

/**
 * The storyboard's sheets described for streaming players, beside the WebVTT track: an HLS image
 * media playlist (the Image Media Playlist specification v0.4 that Roku and Apple TV apps read,
 * `#EXT-X-IMAGES-ONLY` with `#EXT-X-TILES`) and a DASH MPD with one thumbnail adaptation set
 * (DASH-IF IOP 4.3, 6.2.6). Both describe the same sheets and tiles as the VTT, with paths
 * relative to the playlist or MPD (the files sit side by side). Pure: text from the plan.
 *
 * Players place a tile by its index in the sheet (left to right, top to bottom) and a constant tile
 * duration, so each sheet is given the grid of a full sheet: a shorter last sheet then simply has
 * no tile past the video's end. Shaka Player sizes an HLS image stream from the first sheet's
 * LAYOUT times RESOLUTION, and a DASH one from the Representation, so both must be the full grid.
 */

/** Seconds as HLS and ISO 8601 write them: at most 6 decimals, no exponent, no locale. */
export function decimal(seconds: number): string {
  return seconds.toFixed(6).replace(/\.?0+$/, '');
}

export interface SheetTiming {
  file: string;
  /** Seconds: the first tile's cue start and the last tile's cue end (as the VTT writes them). */
  start: number;
  end: number;
}

/** Each sheet's span of the timeline, from the same tiles the VTT has. */
export function sheetTimings(plan: StoryboardPlan): SheetTiming[] {
  return plan.sheetFiles.map((file, sheet) => {
    const tiles = plan.tiles.filter((t) => t.sheet === sheet);
    return { file, start: tiles[0]!.start, end: tiles.at(-1)!.end };
  });
}

/** Rows of the grid every sheet is described with: a full sheet's (the first one is full). */
const gridRows = (plan: StoryboardPlan) => plan.sheetRows[0]!;

/**
 * Peak bits per second of the sheets (each sheet's bytes over the seconds it covers, rounded
 * up): what `BANDWIDTH` of `#EXT-X-IMAGE-STREAM-INF` and a Representation's `bandwidth` say.
 */
export function sheetBandwidth(plan: StoryboardPlan, sheetBytes: number[]): number {
  const timings = sheetTimings(plan);
  let peak = 1;
  timings.forEach((t, i) => {
    const seconds = Math.max(t.end - t.start, 0.001);
    peak = Math.max(peak, Math.ceil(((sheetBytes[i] ?? 0) * 8) / seconds));
  });
  return peak;
}

/**
 * The image media playlist: one segment per sheet, each with its `#EXT-X-TILES` (RESOLUTION is one
 * tile's size, LAYOUT the grid, DURATION one tile's seconds) and an `#EXTINF` of the seconds it
 * covers; the last one ends at the video's end.
 */
export function storyboardHls(plan: StoryboardPlan): string {
  const timings = sheetTimings(plan);
  const target = Math.max(1, Math.ceil(Math.max(...timings.map((t) => t.end - t.start)) - 1e-9));
  const tiles =
    `#EXT-X-TILES:RESOLUTION=${plan.tile.width}x${plan.tile.height},` +
    `LAYOUT=${plan.cols}x${gridRows(plan)},DURATION=${decimal(plan.secondsPerTile)}`;
  const lines = [
    '#EXTM3U',
    '#EXT-X-VERSION:7',
    `#EXT-X-TARGETDURATION:${target}`,
    '#EXT-X-MEDIA-SEQUENCE:0',
    '#EXT-X-PLAYLIST-TYPE:VOD',
    '#EXT-X-IMAGES-ONLY',
    ...timings.flatMap((t) => [tiles, `#EXTINF:${decimal(t.end - t.start)},`, t.file]),
    '#EXT-X-ENDLIST',
  ];
  return lines.join('\n') + '\n';
}

/**
 * A timescale in which one sheet's seconds are a whole number that fits the 32 bits of
 * `SegmentTemplate@duration`: milliseconds when that is exact, else the finest that fits.
 */
function timescaleFor(seconds: number): number {
  if (Math.abs(seconds * 1000 - Math.round(seconds * 1000)) < 1e-6) return 1000;
  let timescale = 1_000_000;
  while (timescale > 1000 && seconds * timescale > 0xffffffff) timescale /= 10;
  return timescale;
}

const xml = (text: string) =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

export interface MpdSpec {
  /** `image/jpeg` or `image/webp`: the sheets' type. */
  mimeType: string;
  bandwidth: number;
}

/**
 * A whole static MPD whose one Period holds the thumbnail adaptation set: `contentType="image"`,
 * the `thumbnail_tile` essential property with the grid, a SegmentTemplate of one sheet per
 * segment (`$Number$` from 0 names the sheets; a single sheet is named as it is), and a
 * Representation whose width and height are a whole sheet's, the property repeated in it. The adaptation set is what a user
 * merges into the Period of their own MPD.
 */
export function storyboardMpd(plan: StoryboardPlan, spec: MpdSpec): string {
  const rows = gridRows(plan);
  const sheetSeconds = plan.cols * rows * plan.secondsPerTile;
  const timescale = timescaleFor(sheetSeconds);
  const extension = plan.sheetFiles[0]!.split('.').at(-1)!;
  const media = plan.sheetFiles.length === 1 ? plan.sheetFiles[0]! : `${plan.base}-$Number$.${extension}`;
  const duration = `PT${decimal(plan.duration)}S`;
  const id = `storyboard-${plan.tile.width}x${plan.tile.height}`;
  // On the adaptation set, as DASH-IF IOP asks; on the Representation too, where Shaka Player and
  // others read it.
  const tileProperty = `<EssentialProperty schemeIdUri="http://dashif.org/thumbnail_tile" value="${plan.cols}x${rows}"/>`;
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" profiles="urn:mpeg:dash:profile:isoff-on-demand:2011" minBufferTime="PT2S" mediaPresentationDuration="${duration}">`,
    `  <Period id="0" start="PT0S" duration="${duration}">`,
    `    <AdaptationSet contentType="image" mimeType="${xml(spec.mimeType)}">`,
    `      ${tileProperty}`,
    `      <SegmentTemplate media="${xml(media)}" startNumber="0" timescale="${timescale}" duration="${Math.round(sheetSeconds * timescale)}"/>`,
    `      <Representation id="${id}" bandwidth="${spec.bandwidth}" width="${plan.cols * plan.tile.width}" height="${rows * plan.tile.height}">`,
    `        ${tileProperty}`,
    '      </Representation>',
    '    </AdaptationSet>',
    '  </Period>',
    '</MPD>',
    '',
  ].join('\n');
}
