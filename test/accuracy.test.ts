import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { FFMPEG } from './support/binaries.js';
import { generate } from '../src/engine/generate.js';

const run = promisify(execFile);

/**
 * A video whose every frame says its own number: frame n is a flat grey of video level 20 + (n * 4) mod 200,
 * encoded with B-frames and a single keyframe, so a tile's brightness tells exactly which frame
 * it shows, through reordering and JPEG.
 */
let work: string;
let video: string;
const FPS = 25;
/** What that level reads as in a (full-range) JPEG. */
const level = (frame: number) => Math.round(((20 + ((frame * 4) % 200) - 16) * 255) / 219);

async function tileLevels(
  image: string,
  cols: number,
  rows: number,
  tileW: number,
  tileH: number,
): Promise<number[]> {
  const { stdout } = await run(
    FFMPEG,
    ['-v', 'error', '-i', image, '-f', 'rawvideo', '-pix_fmt', 'gray', 'pipe:1'],
    { encoding: 'buffer', maxBuffer: 1 << 26 },
  );
  const width = cols * tileW;
  const levels: number[] = [];
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      // The middle of the tile, away from block edges.
      const x = c * tileW + Math.floor(tileW / 2);
      const y = r * tileH + Math.floor(tileH / 2);
      levels.push(stdout[y * width + x]!);
    }
  }
  return levels;
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'thumbnailer-accuracy-'));
  video = join(work, 'numbered.mp4');
  await run(FFMPEG, [
    '-v',
    'error',
    '-f',
    'lavfi',
    '-i',
    `color=c=black:s=160x90:r=${FPS}:d=12`,
    '-vf',
    "geq=lum='20+mod(N*4\\,200)':cb=128:cr=128",
    '-c:v',
    'libx264',
    '-preset',
    'medium',
    '-bf',
    '3',
    '-g',
    '1000',
    '-crf',
    '1',
    '-pix_fmt',
    'yuv420p',
    '-movflags',
    '+faststart',
    video,
  ]);
});
after(() => rm(work, { recursive: true, force: true }));

describe('frame accuracy through B-frames and long GOPs', () => {
  test('accurate mode: every tile is the exact frame of its time', async () => {
    const out = join(work, 'accurate');
    const manifest = await generate({
      source: { kind: 'file', path: video },
      outDir: out,
      options: { mode: 'accurate', cols: 5, rows: 2, width: 160, outputs: ['strip'] },
    });
    const strip = manifest.outputs.find((o) => o.kind === 'strip')!;
    const expectedFrames = strip.times!.map((t) => Math.round(t * FPS));
    // The frame shown at each target time is the last one starting at or before it.
    const targets = [0.6, 1.8, 3, 4.2, 5.4, 6.6, 7.8, 9, 10.2, 11.4];
    assert.deepEqual(
      expectedFrames,
      targets.map((t) => Math.floor(t * FPS + 1e-6)),
    );
    const levels = await tileLevels(join(out, 'strip.jpg'), 5, 2, 160, 90);
    levels.forEach((got, i) =>
      assert.ok(
        Math.abs(got - level(expectedFrames[i]!)) <= 3,
        `tile ${i}: level ${got}, frame ${expectedFrames[i]} has ${level(expectedFrames[i]!)}`,
      ),
    );
  });

  test('fast mode with fewer keyframes than tiles still shows every tile from its own time', async () => {
    const out = join(work, 'fast');
    const manifest = await generate({
      source: { kind: 'file', path: video },
      outDir: out,
      options: { cols: 4, rows: 1, width: 160, outputs: ['strip', 'storyboard'] },
    });
    const strip = manifest.outputs.find((o) => o.kind === 'strip')!;
    const frames = strip.times!.map((t) => Math.round(t * FPS));
    assert.equal(new Set(frames).size, 4, 'four different frames');
    const levels = await tileLevels(join(out, 'strip.jpg'), 4, 1, 160, 90);
    levels.forEach((got, i) =>
      assert.ok(Math.abs(got - level(frames[i]!)) <= 3, `tile ${i}: level ${got} for frame ${frames[i]}`),
    );
    const sheet = manifest.outputs.find((o) => o.kind === 'storyboard')!;
    const sheetFrames = sheet.times!.map((t) => Math.round(t * FPS));
    const sheetLevels = await tileLevels(join(out, 'storyboard.jpg'), 10, 1, 160, 90);
    sheetLevels.forEach((got, i) =>
      assert.ok(Math.abs(got - level(sheetFrames[i]!)) <= 3, `storyboard tile ${i}`),
    );
  });
});
