import { createReadStream, existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { mustRun, run } from './proc.js';

/**
 * The bench's own videos, generated once with ffmpeg and cached in `bench/.media/`:
 * - `5min-1080p.mp4`: 5 minutes of 1080p25 H.264, a keyframe every 4 s, moov atom first;
 * - `60min-1080p.mp4`: the same file stream-copied 12 times (concat demuxer, no encoding).
 *
 * The picture is testsrc2 made to change steadily with time, so that a tile can be told apart from
 * the frames a few seconds before and after it: the hue turns once around the colour wheel over
 * the 5 minutes, a white bar crosses the frame from left to right, and the time is written large.
 */

export interface Media {
  /** `5-min` or `60-min`. */
  name: string;
  path: string;
  bytes: number;
  duration: number;
  width: number;
  height: number;
  fps: number;
  frames: number;
  /** Presentation times of the keyframes, seconds. */
  keyframes: number[];
  /** The picture repeats with this period: the 60-min file is the 5-min one 12 times. */
  period: number;
}

export interface MediaSet {
  short: Media;
  long: Media;
  /** Seconds the generation took (when it was done, in this run or an earlier one). */
  generatedSeconds: number;
  generatedAt: string;
  cached: boolean;
}

const SECONDS = 300;
const FPS = 25;
const GOP = 100;
const COPIES = 12;
const SHORT_FILE = '5min-1080p.mp4';
const LONG_FILE = '60min-1080p.mp4';
const CACHE_FILE = 'media.json';
const FONTS = [
  '/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf',
  '/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf',
  '/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf',
  '/usr/share/fonts/TTF/DejaVuSansMono.ttf',
  '/usr/share/fonts/dejavu/DejaVuSansMono.ttf',
  '/System/Library/Fonts/Menlo.ttc',
];

/** Escapes a value for an ffmpeg filter option written between single quotes. */
const filterQuote = (value: string) => `'${value.replace(/\\/g, '\\\\').replace(/'/g, "'\\''")}'`;

/**
 * The moving test card as ffmpeg input arguments (two lavfi inputs and a filter graph whose output
 * is `[v]`, mapped): testsrc2 turning once round the colour wheel over `seconds`, a white bar
 * crossing it, the time written large, and `extra` filters (grain, say) last.
 */
export function movingPicture(
  width: number,
  height: number,
  fps: number,
  seconds: number,
  font: string | undefined,
  extra?: string,
): string[] {
  const text = font
    ? `,drawtext=fontfile=${filterQuote(font)}:text='%{pts\\:hms}':fontsize=${Math.round((140 * height) / 1080)}:fontcolor=white` +
      `:box=1:boxcolor=black@0.6:boxborderw=${Math.round((20 * height) / 1080)}:x=(w-tw)/2:y=h-th-${Math.round((80 * height) / 1080)}`
    : '';
  const bar = Math.round((120 * width) / 1920);
  return [
    ...['-f', 'lavfi', '-i', `testsrc2=s=${width}x${height}:r=${fps}:d=${seconds}`],
    ...['-f', 'lavfi', '-i', `color=c=white:s=${bar}x${height}:r=${fps}:d=${seconds}`],
    '-filter_complex',
    `[0:v]hue=H=2*PI*t/${seconds}[bg];[bg][1:v]overlay=x='(W-w)*t/${seconds}':y=0:eval=frame${text}${extra ? ',' + extra : ''},format=yuv420p[v]`,
    ...['-map', '[v]'],
  ];
}

function encodeArgs(output: string, font: string | undefined): string[] {
  return [
    ...['-hide_banner', '-v', 'error', '-nostats', '-progress', 'pipe:1', '-y'],
    ...movingPicture(1920, 1080, FPS, SECONDS, font),
    '-an',
    ...['-c:v', 'libx264', '-preset', 'veryfast', '-profile:v', 'high'],
    // A keyframe every 4 s exactly: fixed GOP, no scene-cut keyframes.
    ...['-g', String(GOP), '-keyint_min', String(GOP), '-sc_threshold', '0'],
    ...['-movflags', '+faststart'],
    output,
  ];
}

function concatArgs(list: string, output: string): string[] {
  return [
    ...['-hide_banner', '-v', 'error', '-y'],
    ...['-f', 'concat', '-safe', '0', '-i', list],
    ...['-c', 'copy', '-movflags', '+faststart'],
    output,
  ];
}

export async function findFont(): Promise<string | undefined> {
  const known = FONTS.find((f) => existsSync(f));
  if (known) return known;
  const matched = await run('fc-match', ['-f', '%{file}', 'monospace']);
  const file = matched.code === 0 ? matched.stdout.toString().trim() : '';
  return file && existsSync(file) ? file : undefined;
}

export async function probe(path: string, name: string, period: number): Promise<Media> {
  const info = await mustRun(
    'ffprobe',
    [
      ...['-v', 'error', '-select_streams', 'v:0'],
      ...[
        '-show_entries',
        'stream=width,height,nb_frames,avg_frame_rate:format=duration,size',
        '-of',
        'json',
      ],
      path,
    ],
    { captureStdout: true },
  );
  const json = JSON.parse(info.stdout.toString()) as {
    streams: { width: number; height: number; nb_frames?: string; avg_frame_rate: string }[];
    format: { duration: string; size: string };
  };
  const stream = json.streams[0];
  if (!stream) throw new Error(`${path} has no video stream`);
  const [num, den] = stream.avg_frame_rate.split('/').map(Number);
  const packets = await mustRun(
    'ffprobe',
    [
      '-v',
      'error',
      '-select_streams',
      'v:0',
      '-show_entries',
      'packet=pts_time,flags',
      '-of',
      'csv=p=0',
      path,
    ],
    { captureStdout: true },
  );
  const keyframes = packets.stdout
    .toString()
    .split('\n')
    .map((line) => line.split(','))
    .filter(([, flags]) => flags?.startsWith('K'))
    .map(([pts]) => Number(pts))
    .sort((a, b) => a - b);
  return {
    name,
    path,
    bytes: Number(json.format.size),
    duration: Number(json.format.duration),
    width: stream.width,
    height: stream.height,
    fps: num && den ? num / den : FPS,
    frames: Number(stream.nb_frames ?? 0),
    keyframes,
    period,
  };
}

/** Reads a file once so that the first timed command does not pay for a cold page cache. */
export function warmPageCache(path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const stream = createReadStream(path, { highWaterMark: 4 * 1024 * 1024 });
    stream.on('data', () => undefined);
    stream.on('end', () => resolve());
    stream.on('error', reject);
  });
}

interface CacheRecord {
  recipe: string;
  generatedSeconds: number;
  generatedAt: string;
  short: Omit<Media, 'path'>;
  long: Omit<Media, 'path'>;
}

function withoutPath(media: Media): Omit<Media, 'path'> {
  const { path: _path, ...rest } = media;
  return rest;
}

async function sizeOf(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).size;
  } catch {
    return undefined;
  }
}

/** The bench videos: from the cache when the recipe has not changed, otherwise generated now. */
export async function ensureMedia(dir: string, log: (line: string) => void): Promise<MediaSet> {
  await mkdir(dir, { recursive: true });
  const shortPath = join(dir, SHORT_FILE);
  const longPath = join(dir, LONG_FILE);
  const font = await findFont();
  const recipe = JSON.stringify({
    v: 1,
    encode: encodeArgs(SHORT_FILE, font),
    concat: concatArgs('list', LONG_FILE),
    copies: COPIES,
  });

  const cachePath = join(dir, CACHE_FILE);
  const cached = await readFile(cachePath, 'utf8')
    .then((text) => JSON.parse(text) as CacheRecord)
    .catch(() => undefined);
  if (
    cached?.recipe === recipe &&
    (await sizeOf(shortPath)) === cached.short.bytes &&
    (await sizeOf(longPath)) === cached.long.bytes
  ) {
    return {
      short: { ...cached.short, path: shortPath },
      long: { ...cached.long, path: longPath },
      generatedSeconds: cached.generatedSeconds,
      generatedAt: cached.generatedAt,
      cached: true,
    };
  }

  await rm(cachePath, { force: true });
  const started = performance.now();
  log(
    `media: generating ${SHORT_FILE} (5 min, 1080p25 H.264, keyframe every 4 s${font ? '' : ', no font found: no clock'})...`,
  );
  const partialShort = join(dir, `partial-${SHORT_FILE}`);
  let lastShown = 0;
  await mustRun('ffmpeg', encodeArgs(partialShort, font), {
    timeoutMs: 30 * 60_000,
    onStdoutLine: (line) => {
      const match = /^out_time_us=(\d+)/.exec(line);
      if (!match) return;
      const percent = Math.floor(Number(match[1]) / 1e6 / SECONDS / 0.2) * 20;
      if (percent > lastShown && percent < 100) {
        lastShown = percent;
        log(`media:   ${percent}% (${((performance.now() - started) / 1000).toFixed(0)} s)`);
      }
    },
  });
  await rename(partialShort, shortPath);
  const encodedSeconds = (performance.now() - started) / 1000;
  log(`media: ${SHORT_FILE} encoded in ${encodedSeconds.toFixed(1)} s; stream-copying it 12 times...`);

  const list = join(dir, 'concat.txt');
  await writeFile(list, Array.from({ length: COPIES }, () => `file '${SHORT_FILE}'\n`).join(''));
  const partialLong = join(dir, `partial-${LONG_FILE}`);
  await mustRun('ffmpeg', concatArgs(list, partialLong), { timeoutMs: 10 * 60_000 });
  await rename(partialLong, longPath);
  const copiedSeconds = (performance.now() - started) / 1000 - encodedSeconds;

  const short = await probe(shortPath, '5-min', SECONDS);
  const long = await probe(longPath, '60-min', SECONDS);
  const generatedSeconds = (performance.now() - started) / 1000;
  log(
    `media: generated in ${generatedSeconds.toFixed(1)} s (encode ${encodedSeconds.toFixed(1)} s, ` +
      `stream copy ${copiedSeconds.toFixed(1)} s, probe ${(generatedSeconds - encodedSeconds - copiedSeconds).toFixed(1)} s)`,
  );
  for (const media of [short, long]) {
    const expected = Math.round(media.duration / (GOP / FPS));
    if (Math.abs(media.keyframes.length - expected) > 1) {
      log(
        `media: warning: ${media.name} has ${media.keyframes.length} keyframes, expected about ${expected}`,
      );
    }
  }
  const generatedAt = new Date().toISOString();
  const record: CacheRecord = {
    recipe,
    generatedSeconds,
    generatedAt,
    short: withoutPath(short),
    long: withoutPath(long),
  };
  await writeFile(cachePath, JSON.stringify(record));
  return { short, long, generatedSeconds, generatedAt, cached: false };
}

export function describeMedia(media: Media): string {
  const mb = (media.bytes / 1024 ** 2).toFixed(0);
  return `${media.name}: ${media.width}x${media.height} ${media.fps} fps H.264, ${media.duration.toFixed(0)} s, ${mb} MB, ${media.keyframes.length} keyframes`;
}
