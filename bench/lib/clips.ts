import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { findFont, movingPicture, probe, type Media } from './media.js';
import { mustRun } from './proc.js';

/**
 * Footage that weighs what real uploads weigh, generated once into `bench/.media/` (each clip
 * cached on its own, regenerated only when its recipe changes):
 * - `grain-1080p`: 1080p25 H.264 with film grain at about 8 Mbps, a keyframe every 4 s;
 * - the rare-keyframe cases of docs/contract.md section 9: 120 s 720p H.264 with one keyframe at 8 Mbps;
 *   60 s VP8 + Opus WebM written like MediaRecorder (one keyframe, no cues, no duration in the
 *   header: ffmpeg's `-live 1`); 180 s 1080p H.264 with a keyframe every 10 s;
 * - `onekey-300mb`: about 300 MB of 1080p H.264 with a single keyframe (the memory target).
 *
 * Every picture is the bench's moving test card (see media.ts) with grain added, so that the
 * output checks can tell one moment from another.
 */

export type ClipName = 'grain-1080p' | 'onekey-720p' | 'recorder-webm' | 'gop10-1080p' | 'onekey-300mb';

interface ClipRecipe {
  name: ClipName;
  file: string;
  seconds: number;
  width: number;
  height: number;
  fps: number;
  /** Encoder arguments (after the picture). */
  encode: string[];
  description: string;
}

const GRAIN = 'noise=alls=14:allf=t';
const x264 = (bitrate: string, gop: string[], preset = 'veryfast') => [
  ...['-c:v', 'libx264', '-preset', preset, '-profile:v', 'high', '-pix_fmt', 'yuv420p'],
  ...['-b:v', bitrate, '-maxrate', bitrate, '-bufsize', bitrate.replace(/M$/, '') + 'M'],
  ...gop,
  '-sc_threshold',
  '0',
  '-an',
  ...['-movflags', '+faststart'],
];
const ONE_KEYFRAME = ['-g', '1000000', '-keyint_min', '1000000'];

export const CLIPS: Record<ClipName, ClipRecipe> = {
  'grain-1080p': {
    name: 'grain-1080p',
    file: 'grain-1080p.mp4',
    seconds: 60,
    width: 1920,
    height: 1080,
    fps: 25,
    encode: x264('8M', ['-g', '100', '-keyint_min', '100']),
    description: '1080p25 H.264 with film grain, 8 Mbps, keyframe every 4 s',
  },
  'onekey-720p': {
    name: 'onekey-720p',
    file: 'onekey-720p.mp4',
    seconds: 120,
    width: 1280,
    height: 720,
    fps: 25,
    encode: x264('8M', ONE_KEYFRAME),
    description: '720p25 H.264, one keyframe, 8 Mbps',
  },
  'recorder-webm': {
    name: 'recorder-webm',
    file: 'recorder.webm',
    seconds: 60,
    width: 1280,
    height: 720,
    fps: 30,
    encode: [
      ...['-c:v', 'libvpx', '-deadline', 'realtime', '-cpu-used', '8', '-b:v', '2500k'],
      ...['-g', '1000000', '-auto-alt-ref', '0'],
      ...['-c:a', 'libopus', '-b:a', '64k'],
      // What MediaRecorder writes: no cues, unknown sizes, no duration in the header.
      ...['-f', 'webm', '-live', '1'],
    ],
    description: 'VP8 + Opus WebM like MediaRecorder: one keyframe, no cues, no duration',
  },
  'gop10-1080p': {
    name: 'gop10-1080p',
    file: 'gop10-1080p.mp4',
    seconds: 180,
    width: 1920,
    height: 1080,
    fps: 25,
    // ultrafast: a quarter of the encoding time; the keyframe spacing is what this case is about.
    encode: x264('8M', ['-g', '250', '-keyint_min', '250'], 'ultrafast'),
    description: '1080p25 H.264, keyframe every 10 s, 8 Mbps',
  },
  'onekey-300mb': {
    name: 'onekey-300mb',
    file: 'onekey-300mb.mp4',
    seconds: 120,
    width: 1920,
    height: 1080,
    fps: 25,
    encode: x264('20M', ONE_KEYFRAME, 'ultrafast'),
    description: '1080p25 H.264, one keyframe, 20 Mbps (about 300 MB)',
  },
};

function clipArgs(recipe: ClipRecipe, output: string, font: string | undefined): string[] {
  const picture = movingPicture(recipe.width, recipe.height, recipe.fps, recipe.seconds, font, GRAIN);
  // Inputs come before the filter graph: a sound (MediaRecorder records one) goes in as input 2.
  const graph = picture.indexOf('-filter_complex');
  const audio =
    recipe.name === 'recorder-webm' ? ['-f', 'lavfi', '-i', `sine=f=440:d=${recipe.seconds}`] : [];
  return [
    ...['-hide_banner', '-v', 'error', '-nostats', '-y'],
    ...picture.slice(0, graph),
    ...audio,
    ...picture.slice(graph),
    ...(audio.length > 0 ? ['-map', '2:a'] : []),
    ...recipe.encode,
    output,
  ];
}

interface ClipCache {
  recipe: string;
  media: Omit<Media, 'path'>;
}

/** One clip: from the cache when its recipe is unchanged, otherwise encoded now (a few minutes). */
export async function ensureClip(dir: string, name: ClipName, log: (line: string) => void): Promise<Media> {
  await mkdir(dir, { recursive: true });
  const recipe = CLIPS[name];
  const font = await findFont();
  const path = join(dir, recipe.file);
  const key = JSON.stringify({ v: 1, args: clipArgs(recipe, recipe.file, font) });
  const cachePath = join(dir, `${name}.json`);
  const cached = await readFile(cachePath, 'utf8')
    .then((text) => JSON.parse(text) as ClipCache)
    .catch(() => undefined);
  if (cached?.recipe === key && existsSync(path)) return { ...cached.media, path };

  await rm(cachePath, { force: true });
  log(`media: generating ${recipe.file} (${recipe.description}, ${recipe.seconds} s)...`);
  const started = performance.now();
  const partial = join(dir, `partial-${recipe.file}`);
  await mustRun('ffmpeg', clipArgs(recipe, partial, font), { timeoutMs: 60 * 60_000 });
  await rename(partial, path);
  const media = await probe(path, name, recipe.seconds);
  log(
    `media: ${recipe.file} generated in ${((performance.now() - started) / 1000).toFixed(0)} s, ` +
      `${(media.bytes / 1024 ** 2).toFixed(0)} MB, ${media.keyframes.length} keyframe(s)`,
  );
  const { path: _path, ...rest } = media;
  await writeFile(cachePath, JSON.stringify({ recipe: key, media: rest } satisfies ClipCache));
  return media;
}

export function describeClip(media: Media): string {
  const recipe = CLIPS[media.name as ClipName];
  const mb = (media.bytes / 1024 ** 2).toFixed(0);
  // A recording written like MediaRecorder's has no duration in its header (null once cached).
  const duration = Number.isFinite(media.duration)
    ? `${media.duration.toFixed(0)} s`
    : `${CLIPS[media.name as ClipName]?.seconds ?? '?'} s (none in the header)`;
  return `${media.name}: ${recipe?.description ?? ''}, ${duration}, ${mb} MB, ${media.keyframes.length} keyframe(s)`;
}
