import { z } from 'zod';
import { cpuBudget } from './cpus.js';
import { ThumbnailerError } from '../errors.js';
import { STILL_FORMATS, WEBP_MAX_SIDE } from './still-format.js';

/**
 * The outputs a job can make; `animated` is the short preview (webp or gif), `bif` the Roku trick
 * play file (preview.bif).
 */
export const OUTPUT_KINDS = ['strip', 'poster', 'storyboard', 'animated', 'bif'] as const;
export type OutputKind = (typeof OUTPUT_KINDS)[number];

/** Track files describing the storyboard sheets: WebVTT, an HLS image playlist, a DASH MPD. */
export const STORYBOARD_TRACKS = ['vtt', 'hls', 'dash'] as const;
export type StoryboardTrack = (typeof STORYBOARD_TRACKS)[number];

/**
 * Defaults of the options that are left out of a job's options when not given (or given at their
 * default), so that a job without them has the same options, manifest and digest as before they
 * existed: a video already done is not done again.
 */
export const TRACK_DEFAULTS = {
  storyboardTracks: ['vtt'] as StoryboardTrack[],
  /** Roku's own interval. */
  bifInterval: 10,
  /** Roku HD (320x180 for 16:9); FHD is 640. */
  bifWidth: 320,
} as const;

/** Storyboard widths one job may ask for (each is another set of sheets from the same frames). */
export const MAX_STORYBOARD_WIDTHS = 4;

const color = z
  .string()
  .regex(/^(#[0-9a-fA-F]{6}([0-9a-fA-F]{2})?|0x[0-9a-fA-F]{6}([0-9a-fA-F]{2})?|[a-zA-Z]{3,20})$/, {
    message: 'must be a color name or #RRGGBB',
  });

/**
 * Every job option, camelCase, with the seed's defaults for the strip (10x5 tiles, 600 px wide,
 * quality 10). The same schema serves CLI flags, JSON jobs, the HTTP API and environment defaults.
 */
export const generateOptionsSchema = z
  .object({
    outputs: z
      .array(z.enum(OUTPUT_KINDS))
      .min(1)
      .default(['strip', 'poster', 'storyboard'])
      .transform((list) => [...new Set(list)]),
    rows: z.number().int().min(1).max(20).default(5),
    cols: z.number().int().min(1).max(20).default(10),
    width: z.number().int().min(16).max(1920).optional(),
    height: z.number().int().min(16).max(1080).optional(),
    padding: z.number().int().min(0).max(100).default(0),
    margin: z.number().int().min(0).max(100).default(0),
    color: color.default('black'),
    quality: z.number().int().min(1).max(31).default(10),
    mode: z.enum(['fast', 'accurate']).default('fast'),
    storyboardInterval: z.number().min(0.5).max(600).default(10),
    storyboardWidth: z.number().int().min(32).max(640).default(160),
    /** One set of sheets (and tracks) per width, from the same frames; the first is storyboard.*. */
    storyboardWidths: z
      .array(z.number().int().min(32).max(640))
      .min(1)
      .max(MAX_STORYBOARD_WIDTHS)
      .transform((list) => [...new Set(list)])
      .optional(),
    storyboardTracks: z
      .array(z.enum(STORYBOARD_TRACKS))
      .min(1)
      .transform((list) => [...new Set(list)])
      .optional(),
    storyboardMinTiles: z.number().int().min(1).max(100).default(10),
    storyboardGrid: z.number().int().min(1).max(10).default(10),
    posterWidth: z.number().int().min(32).max(3840).default(1280),
    /** Seconds: the poster is the best frame within a second of this time (clamped to the video). */
    posterTime: z.number().finite().min(0).optional(),
    /** Whole seconds between BIF frames (BIF timestamps count whole seconds here). */
    bifInterval: z.number().int().min(1).max(600).optional(),
    bifWidth: z.number().int().min(80).max(1280).optional(),
    animatedFormat: z.enum(['webp', 'gif']).default('webp'),
    animatedWidth: z.number().int().min(32).max(1280).default(320),
    layout: z.enum(['default', 'seed']).default('default'),
    /** Strip, poster and storyboard sheets: JPEG (the default) or WebP. */
    format: z.enum(STILL_FORMATS).default('jpg'),
  })
  .strict()
  .refine((o) => o.width === undefined || o.height === undefined, {
    message: 'give width or height, not both',
    path: ['width'],
  })
  .refine((o) => o.format !== 'webp' || !o.outputs.includes('bif'), {
    message: 'webp cannot make bif: BIF frames are JPEG; use format jpg, or leave bif out',
    path: ['format'],
  })
  .refine(
    (o) =>
      o.format !== 'webp' ||
      !o.outputs.includes('strip') ||
      o.cols * (o.width ?? 600) + (o.cols - 1) * o.padding + 2 * o.margin <= WEBP_MAX_SIDE,
    {
      message: `webp cannot hold a strip over ${WEBP_MAX_SIDE} px wide: use fewer columns, narrower tiles, or jpg`,
      path: ['format'],
    },
  );

export type GenerateOptionsInput = z.input<typeof generateOptionsSchema>;
export type GenerateOptions = z.output<typeof generateOptionsSchema>;

/** Validates options before any work starts; the error names the offending option. */
export function parseGenerateOptions(input: unknown): GenerateOptions {
  const result = generateOptionsSchema.safeParse(input ?? {});
  if (result.success) {
    // The strip defaults to 600 px wide tiles unless a height was asked for.
    const o = result.data;
    if (o.width === undefined && o.height === undefined) o.width = 600;
    return withoutTrackDefaults(o, input);
  }
  throw optionError(result.error.issues[0]!);
}

/**
 * `storyboardWidths` decides the first width, which `storyboardWidth` names too: both given and
 * different is refused. Then the canonical form: the first width in `storyboardWidth`, the list
 * only when it has more, and no option of TRACK_DEFAULTS at its default.
 */
function withoutTrackDefaults(o: GenerateOptions, input: unknown): GenerateOptions {
  const given = (input as { storyboardWidth?: unknown } | undefined)?.storyboardWidth;
  const widths = o.storyboardWidths;
  if (widths) {
    if (given !== undefined && given !== widths[0]) {
      throw new ThumbnailerError(
        'E_OPTION_INVALID',
        `Invalid option: storyboardWidths starts with ${widths[0]} but storyboardWidth is ${String(given)}: the first width is the one of storyboard.*, give one of them or the same width`,
        { field: 'storyboardWidths' },
      );
    }
    o.storyboardWidth = widths[0]!;
    if (widths.length === 1) delete o.storyboardWidths;
  }
  const tracks = o.storyboardTracks;
  if (tracks && tracks.length === 1 && tracks[0] === 'vtt') delete o.storyboardTracks;
  if (o.bifInterval === TRACK_DEFAULTS.bifInterval) delete o.bifInterval;
  if (o.bifWidth === TRACK_DEFAULTS.bifWidth) delete o.bifWidth;
  return o;
}

/** The storyboard widths of a job, the first one that of storyboard.* (parsed options). */
export function storyboardWidthsOf(o: GenerateOptions): number[] {
  return o.storyboardWidths ?? [o.storyboardWidth];
}

function optionError(issue: z.core.$ZodIssue): ThumbnailerError {
  const name = issue.path.length > 0 ? issue.path.join('.') : 'options';
  const message =
    issue.code === 'unrecognized_keys'
      ? `unknown option ${issue.keys.join(', ')}`
      : `${name} ${issue.message}`;
  // The option at fault, as data: hosts name it their way (`options.rows`, `--rows`).
  const field = issue.code === 'unrecognized_keys' ? issue.keys[0] : issue.path.length > 0 ? name : undefined;
  return new ThumbnailerError('E_OPTION_INVALID', `Invalid option: ${message}`, { field });
}

/** Limits enforced on every input, overridable by the host (docs/contract.md section 8). */
export interface Limits {
  maxInputBytes: number;
  maxDurationSeconds: number;
  maxPixels: number;
  /** Wall-clock limit of one ffmpeg run; a run that keeps making progress is not the concern here. */
  ffmpegTimeoutMs: number;
  /** Stop an ffmpeg run that reports nothing for this long (a hung decoder or input). */
  ffmpegStallTimeoutMs: number;
  /** Wall-clock limit of a whole job. */
  jobTimeoutMs: number;
  /**
   * Largest container index held in memory: the MP4 `moov` (or one `moof`), the Matroska cues, or
   * one Matroska cluster (the demuxer reads a cluster whole). Checked on the declared size, before
   * anything is read or allocated.
   */
  maxIndexBytes: number;
  /** Largest single sample (coded frame), checked on the index's size before the sample is read. */
  maxSampleBytes: number;
  /** Temporary disk one job may use (the remux and transcode routes; see disk.ts). */
  maxTempBytes: number;
  /** Threads of each ffmpeg run: its decoder, its filters and the proxy's encoder. */
  ffmpegThreads: number;
}

export const DEFAULT_LIMITS: Limits = {
  maxInputBytes: 50 * 1024 ** 3,
  maxDurationSeconds: 24 * 3600,
  maxPixels: 8192 * 8192,
  ffmpegTimeoutMs: 10 * 60_000,
  ffmpegStallTimeoutMs: 120_000,
  jobTimeoutMs: 60 * 60_000,
  // A day of 60 fps video has a moov of about 70 MB; the demuxer's tables cost a few times that.
  maxIndexBytes: 64 * 1024 * 1024,
  // An 8K intra frame at high quality is a few MB; 32 MB leaves room and bounds memory.
  maxSampleBytes: 32 * 1024 * 1024,
  // Unbounded but by the free space of the temporary folder, checked before the route starts.
  maxTempBytes: Number.MAX_SAFE_INTEGER,
  // The CPUs this process may use (cgroup quota included), not ffmpeg's host cores + 1.
  ffmpegThreads: cpuBudget(),
};
