import { ThumbnailerError } from '../errors.js';
import { SELECT_MARKED_FRAMES, normaliseFilters, type Size } from './plan.js';
import { stillContentType, stillEncoding, type StillFormat } from './still-format.js';
import type { InputFacts } from './types.js';

/**
 * ffmpeg argument lists as data: pure functions of facts, plans and paths, tested without spawning.
 * Each list is written as flag/value pairs (one per line), flattened at the end.
 */
type Arg = readonly string[];
const flatten = (...groups: (Arg | readonly Arg[])[]): string[] =>
  groups.flatMap((g) => (Array.isArray(g[0]) ? (g as readonly Arg[]).flat() : (g as Arg))) as string[];

/**
 * Only local files (or our own stdin), through the one demuxer named: how every input of ours is
 * opened.
 */
const localInput = (demuxer: string, protocol: 'file' | 'pipe' = 'file'): Arg[] => [
  ['-protocol_whitelist', protocol],
  ['-format_whitelist', demuxer],
  ['-f', demuxer],
];

export interface DecodeLimits {
  maxPixels: number;
  /** Decoder threads (`-threads` before `-i`) and filter graph threads. */
  ffmpegThreads: number;
}

/** The decoder's pixel cap and thread count: options of every input we decode. */
const decoderLimits = (limits: DecodeLimits): Arg[] => [
  ['-max_pixels', String(limits.maxPixels)],
  ['-threads', String(limits.ffmpegThreads)],
];

/**
 * Reads one of our selection files: that demuxer forced, only the `file` protocol, the decoder
 * refusing pictures over the pixel limit.
 */
export function selectionInputArgs(selectionPath: string, limits: DecodeLimits): string[] {
  return [...selectionReadArgs(selectionPath, limits), '-map', '0:v:0', '-an', '-sn', '-dn'];
}

/** A selection file by path, or `stdin` for one streamed to ffmpeg's standard input. */
function selectionReadArgs(
  selectionPath: string | 'stdin',
  limits: DecodeLimits,
  skipLoopFilter = false,
): string[] {
  const piped = selectionPath === 'stdin';
  return flatten([
    ...localInput('matroska', piped ? 'pipe' : 'file'),
    ...decoderLimits(limits),
    ...(skipLoopFilter ? [['-skip_loop_filter', 'all']] : []),
    // Keep the selection file's own times: the marks must stay on whole seconds (ffmpeg would
    // otherwise shift everything by the first frame's time).
    ['-copyts'],
    ['-i', piped ? 'pipe:0' : 'file:' + selectionPath],
  ]);
}

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

/** Reads a container we do not index, with its demuxer forced and only local files allowed. */
function foreignInputArgs(inputPath: string, demuxer: string, limits: DecodeLimits): Arg[] {
  return [
    ...localInput(demuxer),
    // Rotation stays metadata; it is applied later like for any input.
    ['-noautorotate'],
    ...decoderLimits(limits),
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
    ['-threads', String(limits.ffmpegThreads)],
    ['-preset', 'ultrafast'],
    ['-crf', '12'],
    ['-pix_fmt', tenBit ? 'yuv420p10le' : 'yuv420p'],
    ['-force_key_frames', 'expr:gte(t,n_forced*1)'],
    ['-f', 'matroska'],
    ['-y', 'file:' + outPath],
  ]);
}

// ---------------------------------------------------------------------------------------------
// One decode for every output of a job (see frameplan.ts): one input, split once, one branch per
// output with its own `select`, size and encoder.

/**
 * How each output is encoded: codec arguments, the pixel format its filter chain ends with, the
 * file extension and content type. The one place to change an output's encoding.
 */
export interface OutputEncoding {
  extension: string;
  contentType: string;
  /** Last filter of the chain, the pixel format the encoder takes. */
  pixelFormat: string;
  codecArgs: string[];
}

function still(format: StillFormat, quality: number): OutputEncoding {
  const { pixelFormat, args } = stillEncoding(format, quality);
  return { extension: format, contentType: stillContentType(format), pixelFormat, codecArgs: args };
}

export const ENCODINGS = {
  /** Strip and storyboard sheets (the `format` option). */
  sheet: (quality: number, format: StillFormat = 'jpg'): OutputEncoding => still(format, quality),
  poster: (format: StillFormat = 'jpg'): OutputEncoding => still(format, 2),
  animated: (format: 'webp' | 'gif'): OutputEncoding =>
    format === 'webp'
      ? {
          extension: 'webp',
          contentType: 'image/webp',
          pixelFormat: 'yuv420p',
          codecArgs: ['-c:v', 'libwebp_anim', '-quality', '70', '-f', 'webp'],
        }
      : { extension: 'gif', contentType: 'image/gif', pixelFormat: 'rgb24', codecArgs: ['-f', 'gif'] },
} as const;

/**
 * Where a job's single ffmpeg run reads its frames: a selection file (`stdin`: streamed to ffmpeg
 * as it is written, so that ffmpeg starts meanwhile), or the source file itself.
 */
export type DecodeInput =
  | { kind: 'selection'; path: string | 'stdin'; skipLoopFilter?: boolean }
  | {
      kind: 'source';
      path: string;
      demuxer: string;
      /** Decode keyframes only (every frame the plan needs is one). */
      keyframesOnly: boolean;
      /**
       * Skip the decoder's deblocking filter: only for keyframes no other decoded frame refers to,
       * each shown at half its size or less.
       */
      skipLoopFilter?: boolean;
      /** Seconds of the input to read: up to just past the last frame needed. */
      readSeconds: number;
    };

/** One output of the run: which frames (`select`), what to do with them, where they go. */
export interface DecodeBranch {
  select: string;
  /** Filters after `select`. */
  filters: string[];
  /** Build a palette for GIF: the branch splits once more into palettegen and paletteuse. */
  palette?: boolean;
  /** The branch's own filter graph from split output `input` to `output`, instead of a chain. */
  subgraph?: (input: string, output: string) => string;
  /** Output arguments after `-map`, ending with the target. */
  output: string[];
}

function decodeInputArgs(input: DecodeInput, limits: DecodeLimits): string[] {
  if (input.kind === 'selection') return selectionReadArgs(input.path, limits, input.skipLoopFilter);
  return flatten([
    ...localInput(input.demuxer),
    // Rotation is applied by our own filters, like for a selection file.
    ['-noautorotate'],
    ...decoderLimits(limits),
    // The container's own times, as the index gives them: frames are selected by those.
    ['-copyts'],
    ...(input.keyframesOnly ? [['-skip_frame', 'nokey']] : []),
    ...(input.keyframesOnly && input.skipLoopFilter ? [['-skip_loop_filter', 'all']] : []),
    ['-t', input.readSeconds.toFixed(3)],
    ['-i', 'file:' + input.path],
  ]);
}

/**
 * The whole run: `[0:v]split=N`, then per branch `select,filters[oK]`, each mapped to its output;
 * `-vsync passthrough` so that every selected frame comes out once, whatever its timestamp.
 */
export function decodeJobArgs(input: DecodeInput, branches: DecodeBranch[], limits: DecodeLimits): string[] {
  const labels = branches.map((_, i) => `s${i}`);
  const graph = [`[0:v:0]split=${branches.length}${labels.map((l) => `[${l}]`).join('')}`];
  branches.forEach((branch, i) => {
    const chain = [branch.select, ...branch.filters].join(',');
    graph.push(
      branch.subgraph
        ? branch.subgraph(`s${i}`, `o${i}`)
        : branch.palette
          ? `[s${i}]${chain},split[p${i}a][p${i}b];[p${i}a]palettegen=max_colors=128[p${i}];[p${i}b][p${i}]paletteuse=dither=bayer[o${i}]`
          : `[s${i}]${chain}[o${i}]`,
    );
  });
  return flatten(
    decodeInputArgs(input, limits),
    [
      ['-filter_complex_threads', String(limits.ffmpegThreads)],
      ['-filter_complex', graph.join(';')],
      ['-vsync', 'passthrough'],
    ],
    branches.flatMap((branch, i) => [['-map', `[o${i}]`], branch.output]),
  );
}

/** A sheet of `spec.cols` x `spec.rows` tiles; `pattern` writes one image per full sheet (`-%d`). */
export function sheetBranch(
  select: string,
  facts: InputFacts,
  tile: Size,
  spec: TileSpec,
  outPath: string,
  sheets: 'one' | 'pattern',
): DecodeBranch {
  const encoding = ENCODINGS.sheet(spec.quality, spec.format);
  return {
    select,
    filters: [
      ...normaliseFilters(facts, tile),
      `tile=${spec.cols}x${spec.rows}:padding=${spec.padding}:margin=${spec.margin}:color=${spec.color}`,
      `format=${encoding.pixelFormat}`,
    ],
    output: [
      ...(sheets === 'one' ? ['-frames:v', '1'] : []),
      ...encoding.codecArgs,
      ...['-f', 'image2'],
      ...(sheets === 'one' ? ['-update', '1'] : ['-start_number', '0']),
      '-y',
      'file:' + outPath,
    ],
  };
}

/**
 * Each selected frame encoded on its own, numbered from 0 (`pattern` like `poster-%02d.jpg`): JPEG
 * poster candidates. Eleven encodes of twelve are thrown away, yet twelve JPEGs at poster size
 * cost the run less than a second ffmpeg afterwards, which spends about 0.13 s loading its
 * libraries before it encodes the chosen one.
 */
export function encodedFramesBranch(
  select: string,
  facts: InputFacts,
  size: Size,
  encoding: OutputEncoding,
  pattern: string,
): DecodeBranch {
  return {
    select,
    filters: [...normaliseFilters(facts, size), `format=${encoding.pixelFormat}`],
    output: [...encoding.codecArgs, '-f', 'image2', '-start_number', '0', '-y', 'file:' + pattern],
  };
}

/**
 * Each selected frame, uncompressed, one after the other in `outPath` (WebP poster candidates):
 * only the chosen one is then encoded (`stillFromRawArgs`). A WebP encode at poster size takes
 * about 80 ms, so encoding all twelve would cost more than that second ffmpeg.
 */
export function rawFramesBranch(
  select: string,
  facts: InputFacts,
  size: Size,
  encoding: OutputEncoding,
  outPath: string,
): DecodeBranch {
  return {
    select,
    filters: [...normaliseFilters(facts, size), `format=${encoding.pixelFormat}`],
    // Each frame reaches the file as it is made: the poster is encoded from it during the run.
    output: ['-c:v', 'rawvideo', '-f', 'rawvideo', '-flush_packets', '1', '-y', 'file:' + outPath],
  };
}

/** Bytes of one frame in a file written by `rawFramesBranch` (4:2:0, even sizes: 1.5 bytes a pixel). */
export function rawFrameBytes(size: Size, encoding: OutputEncoding): number {
  if (!/^yuvj?420p$/.test(encoding.pixelFormat)) {
    throw new ThumbnailerError(
      'E_INTERNAL',
      `Raw frames are written in 4:2:0 only, not ${encoding.pixelFormat}.`,
    );
  }
  return size.width * size.height + 2 * Math.ceil(size.width / 2) * Math.ceil(size.height / 2);
}

/** Frame `index` of a file written by `rawFramesBranch` with the same `size` and `encoding`, encoded. */
export function stillFromRawArgs(
  rawPath: string,
  size: Size,
  encoding: OutputEncoding,
  index: number,
  outPath: string,
): string[] {
  return flatten([
    ...localInput('rawvideo'),
    ['-pix_fmt', encoding.pixelFormat],
    ['-video_size', `${size.width}x${size.height}`],
    ['-i', 'file:' + rawPath],
    ['-vf', `select=eq(n\\,${index})`],
    ['-vsync', 'passthrough'],
    ['-frames:v', '1'],
    encoding.codecArgs,
    ['-f', 'image2', '-update', '1', '-y', 'file:' + outPath],
  ]);
}

/**
 * Small grey frames on stdout, one per selected frame in time order: the run's progress, the count
 * of what came out, and the poster candidates' scores. Only the frames `scored` picks (a select,
 * `all` or `none`) are made properly (corrected, bicubic); the others are only counted and get a
 * nearest-neighbour stand-in of the same size: a bicubic 64 px grey of every 1080p tile of a strip
 * took about 80 ms of CPU.
 */
export function scoringBranch(
  select: string,
  facts: InputFacts,
  size: Size,
  scored: string | 'all' | 'none',
): DecodeBranch {
  const proper = [...normaliseFilters(facts, size), 'format=gray'];
  const standIn = [`scale=${size.width}:${size.height}:flags=neighbor`, 'setsar=1', 'format=gray'];
  const output = ['-f', 'rawvideo', '-pix_fmt', 'gray', 'pipe:1'];
  if (scored === 'all' || scored === 'none') {
    return { select, filters: scored === 'all' ? proper : standIn, output };
  }
  const chain = (filters: string[]) => filters.join(',');
  return {
    select,
    filters: [],
    // Both halves keep their frames' times: `interleave` puts them back in time order.
    subgraph: (input, out) =>
      `[${input}]${select},split=2[${input}a][${input}b];` +
      `[${input}a]${scored},${chain(proper)}[${input}p];` +
      `[${input}b]${notSelected(scored)},${chain(standIn)}[${input}q];` +
      `[${input}p][${input}q]interleave[${out}]`,
    output,
  };
}

/** `select='E'` -> `select='not(E)'`. */
function notSelected(select: string): string {
  const match = /^select='(.*)'$/.exec(select);
  if (!match) throw new ThumbnailerError('E_INTERNAL', `Not a select filter: ${select}`);
  return `select='not(${match[1]})'`;
}

export function animatedBranch(
  select: string,
  facts: InputFacts,
  size: Size,
  format: 'webp' | 'gif',
  fps: number,
  outPath: string,
): DecodeBranch {
  const encoding = ENCODINGS.animated(format);
  // Marks are a second apart: give them the preview's own frame rate.
  const filters = [...normaliseFilters(facts, size), `setpts=N/(${fps}*TB)`];
  return {
    select,
    filters: format === 'webp' ? [...filters, `format=${encoding.pixelFormat}`] : filters,
    palette: format === 'gif',
    output: [...encoding.codecArgs, '-loop', '0', '-r', String(fps), '-y', 'file:' + outPath],
  };
}
