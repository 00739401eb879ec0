import { SELECT_MARKED_FRAMES, normaliseFilters, type Size } from './plan.js';
import { stillEncoding, type StillFormat } from './still-format.js';
import type { InputFacts } from './types.js';

/**
 * ffmpeg argument lists as data: pure functions of facts, plans and paths, tested without spawning.
 * Each list is written as flag/value pairs (one per line), flattened at the end.
 */
type Arg = readonly string[];
const flatten = (...groups: (Arg | readonly Arg[])[]): string[] =>
  groups.flatMap((g) => (Array.isArray(g[0]) ? (g as readonly Arg[]).flat() : (g as Arg))) as string[];

export interface DecodeLimits {
  maxPixels: number;
}

/**
 * Reads one of our selection files: that demuxer forced, only the `file` protocol, the decoder
 * refusing pictures over the pixel limit.
 */
export function selectionInputArgs(selectionPath: string, limits: DecodeLimits): string[] {
  return flatten([
    ['-protocol_whitelist', 'file'],
    ['-format_whitelist', 'matroska'],
    ['-f', 'matroska'],
    ['-max_pixels', String(limits.maxPixels)],
    // Keep the selection file's own times: the marks must stay on whole seconds (ffmpeg would
    // otherwise shift everything by the first frame's time).
    ['-copyts'],
    ['-i', 'file:' + selectionPath],
    ['-map', '0:v:0'],
    ['-an', '-sn', '-dn'],
  ]);
}

/** A single image file; `-update 1` tells the image muxer the name is not a pattern. */
const imageOutput = (outPath: string): Arg[] => [
  ['-f', 'image2'],
  ['-update', '1'],
  ['-y', 'file:' + outPath],
];

export interface TileSpec {
  cols: number;
  rows: number;
  padding: number;
  margin: number;
  color: string;
  quality: number;
  /** jpg unless given. */
  format?: StillFormat;
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
  ];
  const encoding = stillEncoding(spec.format, spec.quality);
  return flatten(
    selectionInputArgs(selectionPath, limits),
    [['-vf', [...filters, `format=${encoding.pixelFormat}`].join(',')], ['-frames:v', '1'], encoding.args],
    imageOutput(outPath),
  );
}

/** Small grey frames on stdout, for scoring poster candidates. */
export function scoringFramesArgs(
  selectionPath: string,
  facts: InputFacts,
  size: Size,
  limits: DecodeLimits,
): string[] {
  return flatten(selectionInputArgs(selectionPath, limits), [
    ['-vf', [SELECT_MARKED_FRAMES, ...normaliseFilters(facts, size), 'format=gray'].join(',')],
    // One output frame per selected frame, whatever their timestamps.
    ['-vsync', 'passthrough'],
    ['-f', 'rawvideo'],
    ['-pix_fmt', 'gray'],
    ['pipe:1'],
  ]);
}

export function singleFrameArgs(
  selectionPath: string,
  facts: InputFacts,
  size: Size,
  quality: number,
  outPath: string,
  limits: DecodeLimits,
  format: StillFormat = 'jpg',
): string[] {
  const encoding = stillEncoding(format, quality);
  return flatten(
    selectionInputArgs(selectionPath, limits),
    [
      [
        '-vf',
        [SELECT_MARKED_FRAMES, ...normaliseFilters(facts, size), `format=${encoding.pixelFormat}`].join(','),
      ],
      ['-frames:v', '1'],
      encoding.args,
    ],
    imageOutput(outPath),
  );
}

/** One frame as JPEG or WebP bytes on stdout (on-demand frames). */
export function frameToStdoutArgs(
  selectionPath: string,
  facts: InputFacts,
  size: Size,
  format: 'jpg' | 'webp',
  limits: DecodeLimits,
): string[] {
  const encode: Arg[] =
    format === 'jpg'
      ? [
          ['-vf', [SELECT_MARKED_FRAMES, ...normaliseFilters(facts, size), 'format=yuvj420p'].join(',')],
          ['-c:v', 'mjpeg'],
          ['-q:v', '3'],
          ['-f', 'image2pipe'],
        ]
      : [
          ['-vf', [SELECT_MARKED_FRAMES, ...normaliseFilters(facts, size), 'format=yuv420p'].join(',')],
          ['-c:v', 'libwebp'],
          ['-quality', '80'],
          ['-f', 'webp'],
        ];
  return flatten(selectionInputArgs(selectionPath, limits), [['-frames:v', '1']], encode, [['pipe:1']]);
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
  // Marked frames are a second apart: give them the preview's own frame rate.
  const chain = [SELECT_MARKED_FRAMES, ...normaliseFilters(facts, size), `setpts=N/(${fps}*TB)`];
  const encode: Arg[] =
    format === 'webp'
      ? [
          ['-vf', [...chain, 'format=yuv420p'].join(',')],
          ['-c:v', 'libwebp_anim'],
          ['-quality', '70'],
          ['-f', 'webp'],
        ]
      : [
          [
            '-filter_complex',
            `[0:v]${chain.join(',')},split[a][b];[a]palettegen=max_colors=128[p];[b][p]paletteuse=dither=bayer`,
          ],
          ['-f', 'gif'],
        ];
  return flatten(selectionInputArgs(selectionPath, limits), encode, [
    ['-loop', '0'],
    ['-r', String(fps)],
    ['-y', 'file:' + outPath],
  ]);
}

/** Reads a container we do not index, with its demuxer forced and only local files allowed. */
function foreignInputArgs(inputPath: string, demuxer: string, limits: DecodeLimits): Arg[] {
  return [
    ['-protocol_whitelist', 'file'],
    ['-format_whitelist', demuxer],
    ['-f', demuxer],
    // Rotation stays metadata; it is applied later like for any input.
    ['-noautorotate'],
    ['-max_pixels', String(limits.maxPixels)],
    ['-i', 'file:' + inputPath],
    ['-map', '0:v:0'],
    ['-an', '-sn', '-dn'],
  ];
}

/** Copies the video stream of a container we do not index into Matroska, which we do. */
export function remuxArgs(
  inputPath: string,
  demuxer: string,
  outPath: string,
  limits: DecodeLimits,
): string[] {
  return flatten(foreignInputArgs(inputPath, demuxer, limits), [
    ['-c:v', 'copy'],
    ['-f', 'matroska'],
    ['-y', 'file:' + outPath],
  ]);
}

/**
 * Re-encodes a codec a selection file cannot carry into an H.264 proxy with a keyframe every
 * second; colour metadata and 10-bit depth are kept.
 */
export function transcodeArgs(
  inputPath: string,
  demuxer: string,
  facts: InputFacts,
  outPath: string,
  limits: DecodeLimits,
): string[] {
  const tenBit = facts.hdr !== undefined || /1[02]/.test(facts.pixelFormat ?? '');
  return flatten(foreignInputArgs(inputPath, demuxer, limits), [
    ['-c:v', 'libx264'],
    ['-preset', 'ultrafast'],
    ['-crf', '12'],
    ['-pix_fmt', tenBit ? 'yuv420p10le' : 'yuv420p'],
    ['-force_key_frames', 'expr:gte(t,n_forced*1)'],
    ['-f', 'matroska'],
    ['-y', 'file:' + outPath],
  ]);
}
