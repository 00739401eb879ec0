import { SELECT_MARKED_FRAMES, normaliseFilters, type Size } from './plan.js';
import type { InputFacts } from './types.js';

/**
 * ffmpeg argument lists as data: pure functions of facts, plans and paths, tested without spawning.
 * Every one reads a selection file (ours, Matroska) with that demuxer forced and only the `file`
 * protocol allowed.
 */

export interface DecodeLimits {
  maxPixels: number;
}

export function selectionInputArgs(selectionPath: string, limits: DecodeLimits): string[] {
  return [
    '-protocol_whitelist', 'file',
    '-format_whitelist', 'matroska',
    '-f', 'matroska',
    '-max_pixels', String(limits.maxPixels),
    '-i', 'file:' + selectionPath,
    '-map', '0:v:0',
    '-an', '-sn', '-dn',
  ];
}

export interface TileSpec {
  cols: number;
  rows: number;
  padding: number;
  margin: number;
  color: string;
  quality: number;
}

/** One contact sheet (strip or storyboard sheet) from the marked frames, in order. */
export function tileSheetArgs(
  selectionPath: string,
  facts: InputFacts,
  tile: Size,
  spec: TileSpec,
  outPath: string,
  limits: DecodeLimits,
): string[] {
  const filters = [
    SELECT_MARKED_FRAMES,
    ...normaliseFilters(facts, tile),
    `tile=${spec.cols}x${spec.rows}:padding=${spec.padding}:margin=${spec.margin}:color=${spec.color}`,
    'format=yuvj420p',
  ];
  return [
    ...selectionInputArgs(selectionPath, limits),
    '-vf', filters.join(','),
    '-frames:v', '1',
    '-q:v', String(spec.quality),
    '-f', 'image2', '-update', '1',
    '-y', 'file:' + outPath,
  ];
}

/** Small grey frames on stdout, for scoring poster candidates. */
export function scoringFramesArgs(selectionPath: string, facts: InputFacts, size: Size, limits: DecodeLimits): string[] {
  return [
    ...selectionInputArgs(selectionPath, limits),
    '-vf', [SELECT_MARKED_FRAMES, ...normaliseFilters(facts, size), 'format=gray'].join(','),
    '-vsync', 'passthrough',
    '-f', 'rawvideo', '-pix_fmt', 'gray',
    'pipe:1',
  ];
}

export function singleFrameArgs(selectionPath: string, facts: InputFacts, size: Size, quality: number, outPath: string, limits: DecodeLimits): string[] {
  return [
    ...selectionInputArgs(selectionPath, limits),
    '-vf', [SELECT_MARKED_FRAMES, ...normaliseFilters(facts, size), 'format=yuvj420p'].join(','),
    '-frames:v', '1',
    '-q:v', String(quality),
    '-f', 'image2', '-update', '1',
    '-y', 'file:' + outPath,
  ];
}

export function animatedArgs(
  selectionPath: string,
  facts: InputFacts,
  size: Size,
  format: 'webp' | 'gif',
  fps: number,
  outPath: string,
  limits: DecodeLimits,
): string[] {
  const base = [SELECT_MARKED_FRAMES, ...normaliseFilters(facts, size), `setpts=N/(${fps}*TB)`];
  const encode =
    format === 'webp'
      ? ['-vf', [...base, 'format=yuv420p'].join(','), '-c:v', 'libwebp_anim', '-loop', '0', '-quality', '70', '-f', 'webp']
      : ['-filter_complex', `[0:v]${base.join(',')},split[a][b];[a]palettegen=max_colors=128[p];[b][p]paletteuse=dither=bayer`, '-loop', '0', '-f', 'gif'];
  return [...selectionInputArgs(selectionPath, limits), ...encode, '-r', String(fps), '-y', 'file:' + outPath];
}

/** Copies the video stream of a container we do not index into Matroska, which we do. */
export function remuxArgs(inputPath: string, demuxer: string, outPath: string, limits: DecodeLimits): string[] {
  return [
    '-protocol_whitelist', 'file',
    '-format_whitelist', demuxer,
    '-f', demuxer,
    '-i', 'file:' + inputPath,
    '-map', '0:v:0', '-an', '-sn', '-dn',
    '-c:v', 'copy',
    '-max_pixels', String(limits.maxPixels),
    '-f', 'matroska',
    '-y', 'file:' + outPath,
  ];
}

/**
 * Re-encodes a codec the index route cannot copy into an H.264 proxy with frequent keyframes:
 * rotation stays metadata (applied later like for any input), colour and 10-bit depth are kept.
 */
export function transcodeArgs(inputPath: string, demuxer: string, facts: InputFacts, outPath: string, limits: DecodeLimits): string[] {
  const tenBit = facts.hdr !== undefined || /10|12/.test(facts.pixelFormat ?? '');
  return [
    '-protocol_whitelist', 'file',
    '-format_whitelist', demuxer,
    '-f', demuxer,
    '-noautorotate',
    '-max_pixels', String(limits.maxPixels),
    '-i', 'file:' + inputPath,
    '-map', '0:v:0', '-an', '-sn', '-dn',
    '-c:v', 'libx264', '-preset', 'ultrafast', '-crf', '12',
    '-pix_fmt', tenBit ? 'yuv420p10le' : 'yuv420p',
    '-force_key_frames', 'expr:gte(t,n_forced*1)',
    '-f', 'matroska',
    '-y', 'file:' + outPath,
  ];
}
