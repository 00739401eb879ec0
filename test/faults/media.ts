import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { MEDIA_DIR } from '../support/media.js';

const run = promisify(execFile);

/** A lavfi clip made once into .cache/media (H.264, 25 fps). */
export async function clip(seconds: number, size: string, gop = 25, source = 'testsrc2'): Promise<string> {
  const path = join(MEDIA_DIR, `faults-${source}-${seconds}s-${size}-g${gop}.mp4`);
  if (existsSync(path)) return path;
  await mkdir(MEDIA_DIR, { recursive: true });
  const tmp = `${path}.${process.pid}.tmp.mp4`;
  await run('ffmpeg', [
    ...['-hide_banner', '-nostdin', '-loglevel', 'error', '-y'],
    ...['-f', 'lavfi', '-i', `${source}=size=${size}:rate=25:duration=${seconds}`],
    ...['-c:v', 'libx264', '-preset', 'ultrafast', '-g', String(gop), '-pix_fmt', 'yuv420p', tmp],
  ]);
  await rename(tmp, path);
  return path;
}

/**
 * A decompression bomb: one black H.264 frame whose SPS and track header declare 16000x16000
 * (256 M pixels, 384 MB a decoded frame; 16384 squared is past ffmpeg's own picture-size cap) in a file of a few KB.
 */
export async function bomb(): Promise<string> {
  const path = join(MEDIA_DIR, 'faults-bomb-16000x16000.mp4');
  if (existsSync(path)) return path;
  await mkdir(MEDIA_DIR, { recursive: true });
  const tmp = `${path}.${process.pid}.tmp.mp4`;
  await run(
    'ffmpeg',
    [
      ...['-hide_banner', '-nostdin', '-loglevel', 'error', '-y'],
      ...['-f', 'lavfi', '-i', 'color=c=black:s=16000x16000:r=1:d=1'],
      ...['-frames:v', '1', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', tmp],
    ],
    { maxBuffer: 16 * 1024 * 1024 },
  );
  await rename(tmp, path);
  return path;
}
