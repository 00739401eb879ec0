import { InvalidArgumentError, type Command } from 'commander';

/**
 * The job options as CLI flags, shared by `generate` and `submit`. Values are only converted
 * here; the engine's schema validates them and names the flag that is wrong.
 */
const number = (value: string): number => {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError('must be a number');
  return n;
};

/** `a, b,c` -> ['a', 'b', 'c']. */
const list = (value: string): string[] =>
  value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

/** `160,320` -> [160, 320]; each must be a number (the schema checks the rest). */
const numbers = (value: string): number[] => list(value).map(number);

export function addGenerateOptions(command: Command): Command {
  return command
    .option('--outputs <list>', 'comma-separated: strip,poster,storyboard,animated,bif', list)
    .option('--rows <n>', 'strip rows (default 5)', number)
    .option('--cols <n>', 'strip columns (default 10)', number)
    .option('--width <px>', 'strip tile width (default 600)', number)
    .option('--height <px>', 'strip tile height (instead of width)', number)
    .option('--padding <px>', 'space between strip tiles', number)
    .option('--margin <px>', 'space around the strip', number)
    .option('--color <color>', 'strip background color (name or #RRGGBB)')
    .option('--quality <q>', 'quality of the strip, 1 (best) to 31 (default 10; mapped for WebP)', number)
    .option('--format <format>', 'strip, poster and storyboard sheets: jpg (default) or webp')
    .option('--mode <mode>', 'fast (nearest keyframes) or accurate (exact times)')
    .option('--storyboard-interval <seconds>', 'one storyboard tile every N seconds (default 10)', number)
    .option('--storyboard-width <px>', 'storyboard tile width (default 160)', number)
    .option(
      '--storyboard-widths <list>',
      'storyboard tile widths, one set of sheets each (e.g. 160,320; the first is storyboard.*)',
      numbers,
    )
    .option('--storyboard-tracks <list>', 'storyboard track files: vtt,hls,dash (default vtt)', list)
    .option('--poster-time <seconds>', 'the poster is the best frame within a second of this time', number)
    .option(
      '--bif-interval <seconds>',
      'whole seconds between the frames of preview.bif (default 10)',
      number,
    )
    .option('--bif-width <px>', 'width of the frames of preview.bif (default 320)', number)
    .option('--animated-format <format>', 'webp or gif')
    .option('--layout <layout>', 'seed: also write <video>_keyframes.jpg like the seed sample');
}

const KEYS = [
  'outputs',
  'rows',
  'cols',
  'width',
  'height',
  'padding',
  'margin',
  'color',
  'quality',
  'mode',
  'storyboardInterval',
  'storyboardWidth',
  'storyboardWidths',
  'storyboardTracks',
  'posterTime',
  'bifInterval',
  'bifWidth',
  'animatedFormat',
  'layout',
  'format',
] as const;

export function collectGenerateOptions(flags: Record<string, unknown>): Record<string, unknown> {
  const options: Record<string, unknown> = {};
  for (const key of KEYS) if (flags[key] !== undefined) options[key] = flags[key];
  if (options.layout === undefined && process.env.THUMBNAIL_LAYOUT)
    options.layout = process.env.THUMBNAIL_LAYOUT;
  return options;
}

/** `storyboardInterval` -> `--storyboard-interval`, for messages shown to CLI users. */
export function flagName(option: string): string {
  return '--' + option.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
}

/** An error's field (`rows`, `options.outputs.0`, `name`) as the flag that sets it (`--rows`, `--outputs`, `--name`). */
export function flagForField(field: string): string {
  return flagName(field.replace(/^options\./, '').split('.')[0]!);
}
