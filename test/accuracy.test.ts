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
/** The same picture with a keyframe every 2 s (50 frames): a long GOP, open to B-frames. */
let longGop: string;
/** The same picture again, written like a browser recording (see numberedRecording). */
let recording: string;
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

async function numberedVideo(path: string, gop: number): Promise<void> {
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
    String(gop),
    '-keyint_min',
    String(gop),
    '-sc_threshold',
    '0',
    '-crf',
    '1',
    '-pix_fmt',
    'yuv420p',
    '-movflags',
    '+faststart',
    path,
  ]);
}

/**
 * The same picture as MediaRecorder writes it: VP8 in WebM with a single keyframe, no cues and no
 * duration in the header (`-live 1`), so the demuxer has no index to look keyframes up in.
 */
async function numberedRecording(path: string): Promise<void> {
  await run(FFMPEG, [
    ...['-v', 'error', '-f', 'lavfi', '-i', `color=c=black:s=160x90:r=${FPS}:d=12`],
    ...['-vf', "geq=lum='20+mod(N*4\\,200)':cb=128:cr=128"],
    ...['-c:v', 'libvpx', '-b:v', '0', '-crf', '4', '-qmin', '0', '-qmax', '4'],
    ...['-g', '100000', '-auto-alt-ref', '0', '-pix_fmt', 'yuv420p'],
    // A cluster a second, as a recorder flushes them: keyframes are looked for across clusters.
    ...['-f', 'webm', '-live', '1', '-cluster_time_limit', '1000', path],
  ]);
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'thumbnailer-accuracy-'));
  video = join(work, 'numbered.mp4');
  longGop = join(work, 'numbered-gop50.mp4');
  recording = join(work, 'numbered-recording.webm');
  await Promise.all([numberedVideo(video, 1000), numberedVideo(longGop, 50), numberedRecording(recording)]);
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

/** Level at the middle of a single image. */
async function centreLevel(image: string, width: number, height: number): Promise<number> {
  return (await tileLevels(image, 1, 1, width, height))[0]!;
}

describe('one decode for every output: each tile still shows its own frame', () => {
  for (const [name, path] of [
    ['single keyframe', () => video],
    ['keyframe every 2 s', () => longGop],
    ['recorder-like WebM', () => recording],
  ] as const) {
    for (const mode of ['fast', 'accurate'] as const) {
      for (const route of ['seek', 'sequential'] as const) {
        test(`${name}, ${mode} mode, ${route} route: strip, storyboard, poster and preview`, async () => {
          const out = join(work, `${name}-${mode}-${route}`.replace(/\s+/g, '-'));
          const manifest = await generate({
            source: { kind: 'file', path: path() },
            outDir: out,
            decodeRoute: route,
            options: {
              mode,
              cols: 5,
              rows: 2,
              width: 160,
              outputs: ['strip', 'storyboard', 'poster', 'animated'],
            },
          });
          assert.equal(manifest.decode.route, route);
          assert.ok(manifest.decode.decodedFrames > 0, 'decoded frames counted');
          // One decode for all outputs: never more frames than the video has.
          assert.ok(
            manifest.decode.decodedFrames <= 12 * FPS,
            `${manifest.decode.decodedFrames} frames decoded`,
          );

          const strip = manifest.outputs.find((o) => o.kind === 'strip')!;
          const targets = [0.6, 1.8, 3, 4.2, 5.4, 6.6, 7.8, 9, 10.2, 11.4];
          strip.times!.forEach((t, i) => {
            // Accurate: the frame shown at the target; fast: a keyframe within half the spacing.
            const allowed = mode === 'accurate' ? 1 / FPS : 0.6;
            assert.ok(t <= targets[i]! + 1e-6 || mode === 'fast', `tile ${i} at ${t} s, after its target`);
            assert.ok(Math.abs(t - targets[i]!) <= allowed + 1e-6, `tile ${i} at ${t} s for ${targets[i]} s`);
          });
          const frames = strip.times!.map((t) => Math.round(t * FPS));
          assert.equal(new Set(frames).size, 10, 'ten different frames');
          const levels = await tileLevels(join(out, 'strip.jpg'), 5, 2, 160, 90);
          levels.forEach((got, i) =>
            assert.ok(
              Math.abs(got - level(frames[i]!)) <= 3,
              `strip tile ${i}: level ${got} for frame ${frames[i]}`,
            ),
          );

          const sheet = manifest.outputs.find((o) => o.kind === 'storyboard')!;
          const sheetFrames = sheet.times!.map((t) => Math.round(t * FPS));
          const sheetLevels = await tileLevels(join(out, 'storyboard.jpg'), 10, 1, 160, 90);
          sheetLevels.forEach((got, i) =>
            assert.ok(
              Math.abs(got - level(sheetFrames[i]!)) <= 3,
              `storyboard tile ${i}: level ${got} for frame ${sheetFrames[i]}`,
            ),
          );

          const poster = manifest.outputs.find((o) => o.kind === 'poster')!;
          const posterFrame = Math.round(poster.times![0]! * FPS);
          const posterLevel = await centreLevel(join(out, 'poster.jpg'), poster.width!, poster.height!);
          assert.ok(
            Math.abs(posterLevel - level(posterFrame)) <= 3,
            `poster: level ${posterLevel} for frame ${posterFrame}`,
          );
          assert.ok(manifest.outputs.some((o) => o.kind === 'animated'));
        });
      }
    }
  }

  // WebP candidates go raw to one file and only the chosen one is encoded: on a sequential pass
  // while the run decodes the rest of the file (the strip's last tile comes after them).
  for (const route of ['seek', 'sequential'] as const) {
    test(`WebP poster, ${route} route: the candidate encoded is the one chosen, the frame of its time`, async () => {
      const out = join(work, `webp-poster-${route}`);
      const manifest = await generate({
        source: { kind: 'file', path: video },
        outDir: out,
        decodeRoute: route,
        options: { format: 'webp', cols: 5, rows: 2, width: 160, outputs: ['strip', 'poster'] },
      });
      assert.equal(manifest.decode.route, route);
      const poster = manifest.outputs.find((o) => o.kind === 'poster')!;
      assert.equal(poster.file, 'poster.webp');
      const posterFrame = Math.round(poster.times![0]! * FPS);
      const posterLevel = await centreLevel(join(out, 'poster.webp'), poster.width!, poster.height!);
      assert.ok(
        Math.abs(posterLevel - level(posterFrame)) <= 3,
        `poster: level ${posterLevel} for frame ${posterFrame}`,
      );
    });
  }

  test('the cost model takes one pass on a single keyframe and seeks on short GOPs in fast mode', async () => {
    const one = await generate({
      source: { kind: 'file', path: video },
      outDir: join(work, 'auto-one'),
      options: { outputs: ['strip', 'storyboard', 'poster'] },
    });
    assert.equal(one.decode.route, 'sequential');
    const gop = await generate({
      source: { kind: 'file', path: longGop },
      outDir: join(work, 'auto-gop'),
      options: { cols: 2, rows: 1, outputs: ['strip'] },
    });
    assert.equal(gop.decode.route, 'seek');
    assert.ok(gop.decode.keyframesOnly, 'fast mode on keyframes decodes keyframes only');
    assert.equal(gop.decode.decodedFrames, 2);
  });
});
