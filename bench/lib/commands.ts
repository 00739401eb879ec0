import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { checkOurOutputs, checkStrip, checkOurTracks, readManifest } from './checks.js';
import type { Media } from './media.js';
import { timed, type Timed } from './timing.js';
import type { BenchContext } from './types.js';

/** The commands the bench times, each with the check of what it makes. */

const COLS = 10;
const ROWS = 5;
const TILE_WIDTH = 600;
const QUALITY = 10;
const TILES = COLS * ROWS;

const short = (media: Media) => media.path.split('/').at(-1) ?? media.path;

type OurKind = 'strip' | 'poster' | 'storyboard';

/**
 * `thumbnailer generate <video> -o <dir> [--outputs ...] [extra flags]`: the spec's defaults are
 * ours (10x5, 600 px, q10). With `tracks`, the outputs named there are added (`bif`) and the track
 * files of the flags are checked too.
 */
export function oursGenerate(
  ctx: BenchContext,
  id: string,
  label: string,
  video: Media,
  outputs?: OurKind[],
  tracks?: { outputs: 'bif'[]; flags: string[] },
): Timed {
  const cli = ctx.ours;
  if (!cli) throw new Error('our CLI is not being timed (--without-ours)');
  const listed = tracks ? [...(outputs ?? ['strip', 'poster', 'storyboard']), ...tracks.outputs] : outputs;
  const flags = [...(listed ? ['--outputs', listed.join(',')] : []), ...(tracks?.flags ?? [])];
  const command = `thumbnailer generate ${short(video)} -o OUT${flags.length ? ' ' + flags.join(' ') : ''}`;
  return timed(id, label, command, (dir) => ({
    file: process.execPath,
    args: [cli, 'generate', video.path, '-o', join(dir, 'out'), ...flags],
    timeoutMs: 5 * 60_000,
    verify: async () => [
      ...(await checkOurOutputs(
        join(dir, 'out'),
        outputs ?? ['strip', 'poster', 'storyboard'],
        video,
        ctx.refs,
      )),
      ...(tracks ? await checkOurTracks(join(dir, 'out'), video) : []),
    ],
  }));
}

function previewPackageCli(): string {
  const require = createRequire(import.meta.url);
  const pkg = require.resolve('ffmpeg-generate-video-preview/package.json');
  return join(dirname(pkg), 'index.js');
}

/**
 * `generate-video-preview <video> out.jpg --width 600 --rows 5 --cols 10 --quality 10` through node:
 * it decodes every frame and keeps every n-th, n = floor(frames / 50).
 */
export function previewPackage(ctx: BenchContext, id: string, label: string, video: Media): Timed {
  const cli = previewPackageCli();
  const flags = [
    '--width',
    String(TILE_WIDTH),
    '--rows',
    String(ROWS),
    '--cols',
    String(COLS),
    '--quality',
    String(QUALITY),
  ];
  const nth = Math.floor(video.frames / TILES);
  const times = Array.from({ length: TILES }, (_, k) => (k * nth) / video.fps);
  return timed(id, label, `generate-video-preview ${short(video)} out.jpg ${flags.join(' ')}`, (dir) => ({
    file: process.execPath,
    args: [cli, video.path, join(dir, 'out.jpg'), ...flags],
    timeoutMs: 20 * 60_000,
    verify: () =>
      checkStrip({
        image: join(dir, 'out.jpg'),
        grid: { cols: COLS, rows: ROWS, tileWidth: TILE_WIDTH, tileHeights: [337, 338] },
        times,
        video,
        refs: ctx.refs,
      }),
  }));
}

/**
 * ffmpeg's keyframe-scan recipe: decode keyframes only, keep every N-th (N = keyframes / 50) and
 * tile them: `ffmpeg -skip_frame nokey -i in.mp4 -vf "select='not(mod(n,N))',scale=600:-2,tile=10x5"
 * -frames:v 1 -q:v 10 -vsync 0 out.jpg`.
 */
export function keyframeScan(ctx: BenchContext, id: string, label: string, video: Media): Timed {
  const every = Math.max(1, Math.floor(video.keyframes.length / TILES));
  const times = Array.from({ length: TILES }, (_, k) => video.keyframes[k * every] ?? NaN);
  const filter = `select='not(mod(n,${every}))',scale=${TILE_WIDTH}:-2,tile=${COLS}x${ROWS}`;
  const command = `ffmpeg -skip_frame nokey -i ${short(video)} -vf "${filter}" -frames:v 1 -q:v ${QUALITY} -vsync 0 out.jpg`;
  return timed(id, label, command, (dir) => ({
    file: 'ffmpeg',
    args: [
      ...['-hide_banner', '-v', 'error', '-y'],
      ...['-skip_frame', 'nokey', '-i', video.path],
      ...['-vf', filter, '-frames:v', '1', '-q:v', String(QUALITY), '-vsync', '0'],
      join(dir, 'out.jpg'),
    ],
    timeoutMs: 20 * 60_000,
    verify: () =>
      checkStrip({
        image: join(dir, 'out.jpg'),
        grid: { cols: COLS, rows: ROWS, tileWidth: TILE_WIDTH, tileHeights: [338] },
        times,
        video,
        refs: ctx.refs,
      }),
  }));
}

/** One plain decode of the whole video, the yardstick of the rare-keyframe targets: `ffmpeg -i X -an -f null -`. */
export function plainDecode(id: string, label: string, video: Media): Timed {
  return timed(id, label, `ffmpeg -i ${short(video)} -an -f null -`, () => ({
    file: 'ffmpeg',
    args: ['-hide_banner', '-v', 'error', '-nostdin', '-i', video.path, '-an', '-f', 'null', '-'],
    timeoutMs: 20 * 60_000,
    // Nothing to look at: a clean exit is the check.
    verify: async () => [],
  }));
}

/** What our manifest says about the last checked run of a command: bytes read and how frames were decoded. */
export interface ManifestFacts {
  bytesRead?: number;
  inputBytes?: number;
  decode?: { route: string; decodedFrames: number; frames: number };
}

/** Wraps a command of ours so that each check also records the manifest's figures into `facts`. */
export function recordingManifest(item: Timed, facts: ManifestFacts): Timed {
  const make = item.make;
  return {
    ...item,
    make: (dir) => {
      const command = make(dir);
      return {
        ...command,
        verify: async () => {
          const problems = await command.verify();
          const manifest = await readManifest(join(dir, 'out'));
          if (typeof manifest !== 'string') {
            const m = manifest as unknown as {
              bytesRead?: number;
              input?: { size?: number };
              decode?: ManifestFacts['decode'];
            };
            facts.bytesRead = m.bytesRead;
            facts.inputBytes = m.input?.size;
            facts.decode = m.decode;
          }
          return problems;
        },
      };
    },
  };
}
