/**
 * The thumbnail tracks for other players, judged as a person would: Roku's BIF read back by a
 * reader written from Roku's published layout (test/support/tracks.ts), every JPEG decoded and
 * compared with the video's own frame at its timestamp; HiDPI storyboards whose 320 px sheets are
 * the 160 px ones at twice the size; a poster taken at a chosen time; and the bounds that keep a
 * careless or hostile job from costing more than it should.
 *
 * Outputs stay in test-artifacts/tracks/<case>/ so a failure can be looked at.
 */
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { generate } from '../src/engine/generate.js';
import {
  MAX_STORYBOARD_WIDTHS,
  parseGenerateOptions,
  type GenerateOptionsInput,
} from '../src/engine/options.js';
import { MAX_BIF_FRAMES, planBif, posterWindowTimes } from '../src/engine/plan.js';
import type { Manifest, OutputFile } from '../src/engine/types.js';
import {
  cropGray,
  decodeGray,
  fingerprint,
  fingerprintDistance,
  framesAt,
  meanLuma,
  psnr,
  type Gray,
} from './support/images.js';
import { CITY, REPO_ROOT, media } from './support/media.js';
import { parseStoryboardVtt, readBif, type BifImage } from './support/tracks.js';

const ARTIFACTS = join(REPO_ROOT, 'test-artifacts', 'tracks');

async function run(
  name: string,
  video: string,
  options: GenerateOptionsInput,
): Promise<Manifest & { dir: string }> {
  const dir = join(ARTIFACTS, name);
  const manifest = await generate({ source: { kind: 'file', path: video }, outDir: dir, options });
  return { ...manifest, dir };
}

const outputsOf = (m: Manifest, kind: OutputFile['kind']) => m.outputs.filter((o) => o.kind === kind);

/** The BIF of a run, read back, each image decoded to gray (and written out to be looked at). */
async function bifOf(r: Manifest & { dir: string }): Promise<{ images: BifImage[]; grays: Gray[] }> {
  const [output] = outputsOf(r, 'bif');
  assert.ok(output, 'the manifest lists preview.bif');
  const data = new Uint8Array(await readFile(join(r.dir, output.file)));
  assert.equal(output.bytes, data.length);
  assert.equal(output.contentType, 'application/octet-stream');
  const bif = readBif(data);
  assert.equal(bif.version, 0);
  assert.equal(output.frames, bif.images.length);
  const frames = join(r.dir, 'bif-frames');
  await mkdir(frames, { recursive: true });
  const grays: Gray[] = [];
  for (const [i, image] of bif.images.entries()) {
    assert.deepEqual([...image.bytes.subarray(0, 3)], [0xff, 0xd8, 0xff], `image ${i} is a JPEG`);
    const file = join(frames, `${String(i).padStart(4, '0')}.jpg`);
    await writeFile(file, image.bytes);
    const gray = await decodeGray(file);
    assert.deepEqual(
      [gray.width, gray.height],
      [output.width, output.height],
      `image ${i} decodes at its size`,
    );
    grays.push(gray);
  }
  return { images: bif.images, grays };
}

/**
 * Each frame is the video's own frame at its time: close to it (PSNR), and closer than to the
 * frames a second before and after. The clips here run at 25 fps.
 */
async function checkFramesShowTheirTimes(
  video: string,
  duration: number,
  images: BifImage[],
  grays: Gray[],
  shownAt: (i: number) => number,
): Promise<void> {
  const { width, height } = grays[0]!;
  const neighbours = (t: number) => [t - 1, t + 1].filter((n) => n >= 0 && n < duration - 0.04);
  const times = grays.flatMap((_, i) => [shownAt(i), ...neighbours(shownAt(i))]);
  const reference = await framesAt(video, times, width, height, 0.04);
  for (const [i, gray] of grays.entries()) {
    const own = psnr(gray, reference.get(shownAt(i))!);
    assert.ok(
      own > 28,
      `BIF frame ${i} (${images[i]!.time} s) against the video at ${shownAt(i)} s: ${own.toFixed(1)} dB`,
    );
    for (const other of neighbours(shownAt(i))) {
      const theirs = psnr(gray, reference.get(other)!);
      assert.ok(
        own > theirs + 3,
        `BIF frame ${i}: ${own.toFixed(1)} dB at its time, ${theirs.toFixed(1)} dB at ${other} s`,
      );
    }
  }
}

describe('Roku BIF', () => {
  test('39.5 s moving clip, fast mode, a frame every 2 s: 20 distinct frames, each the keyframe at its time', async () => {
    const video = await media('clock40');
    const r = await run('bif-fast', video, { outputs: ['bif'], bifInterval: 2 });
    const { images, grays } = await bifOf(r);
    assert.deepEqual(
      images.map((i) => i.time),
      Array.from({ length: 20 }, (_, i) => 2 * i),
      'a timestamp every 2 s from 0, rising, covering the video',
    );
    const [output] = outputsOf(r, 'bif');
    assert.deepEqual([output!.width, output!.height, output!.interval], [320, 180, 2]);
    for (let i = 1; i < grays.length; i++) {
      const d = fingerprintDistance(fingerprint(grays[i - 1]!), fingerprint(grays[i]!));
      assert.ok(d > 0.05, `frames ${i - 1} and ${i} differ (distance ${d.toFixed(3)})`);
    }
    // The keyframes are 2 s apart: the frame shown is the one at the timestamp.
    await checkFramesShowTheirTimes(video, r.input.duration, images, grays, (i) => output!.times![i]!);
    assert.deepEqual(
      output!.times,
      images.map((i) => i.time),
    );
  });

  test('accurate mode, a frame every 3 s: each frame is the video at that very time', async () => {
    const video = await media('clock40');
    const r = await run('bif-accurate', video, {
      outputs: ['bif'],
      bifInterval: 3,
      mode: 'accurate',
      bifWidth: 240,
    });
    const { images, grays } = await bifOf(r);
    assert.equal(images.length, 14);
    assert.deepEqual([grays[0]!.width, grays[0]!.height], [240, 136]);
    await checkFramesShowTheirTimes(video, r.input.duration, images, grays, (i) => images[i]!.time);
  });

  test('with every other output: one decode run, the same frames as a BIF alone', async () => {
    const video = await media('clock40');
    const r = await run('bif-with-all', video, {
      outputs: ['strip', 'poster', 'storyboard', 'animated', 'bif'],
      width: 160,
      bifInterval: 2,
      storyboardWidths: [160, 240, 320, 480],
      storyboardTracks: ['vtt', 'hls', 'dash'],
      storyboardInterval: 1,
      storyboardGrid: 4,
      posterTime: 20,
    });
    const { images, grays } = await bifOf(r);
    assert.equal(images.length, 20);
    await checkFramesShowTheirTimes(video, r.input.duration, images, grays, (i) => images[i]!.time);
    assert.equal(outputsOf(r, 'storyboard').length, 4 * 3, 'three sheets at each of four widths');
    assert.equal(outputsOf(r, 'storyboard-dash').length, 4);
  });

  test('fast mode: of two keyframes equally near, the one the strip decodes anyway', async () => {
    // Keyframes every 2 s; the 8 strip tiles take the keyframes at 2, 8, 12, 18, 22, 28, 32, 38 s.
    const r = await run('bif-shared', await media('clock40'), {
      outputs: ['strip', 'bif'],
      cols: 8,
      rows: 1,
      width: 160,
      bifInterval: 3,
    });
    const [strip] = outputsOf(r, 'strip');
    const [bif] = outputsOf(r, 'bif');
    assert.deepEqual(strip!.times, [2, 8, 12, 18, 22, 28, 32, 38]);
    // 21 s and 27 s lie halfway between keyframes: the later one of each pair is the strip's.
    assert.deepEqual([bif!.times![7], bif!.times![9]], [22, 28]);
    // 3 s and 9 s: the earlier ones, the strip's too; 15 s: neither is, the earlier one.
    assert.deepEqual([bif!.times![1], bif!.times![3], bif!.times![5]], [2, 8, 14]);
  });

  test('portrait (rotated 90) and non-square pixels: frames upright and square-pixelled', async () => {
    for (const [name, width, height] of [
      ['rotate90', 180, 320],
      ['sarWide', 320, 180],
    ] as const) {
      const video = await media(name);
      const r = await run(`bif-${name}`, video, { outputs: ['bif'], bifInterval: 1, mode: 'accurate' });
      const { images, grays } = await bifOf(r);
      assert.deepEqual([grays[0]!.width, grays[0]!.height], [width, height], name);
      // frameAt applies the rotation and the pixel aspect as a player does.
      await checkFramesShowTheirTimes(
        video,
        r.input.duration,
        images.slice(0, 3),
        grays.slice(0, 3),
        (i) => images[i]!.time,
      );
    }
  });

  test('a one-frame video and a video shorter than the interval: one frame at 0', async () => {
    for (const [name, video] of [
      ['one-frame', await media('oneFrame')],
      ['city', CITY],
    ] as const) {
      const r = await run(`bif-${name}`, video, { outputs: ['bif'] });
      const { images } = await bifOf(r);
      assert.deepEqual(
        images.map((i) => i.time),
        [0],
        name,
      );
    }
  });

  test('a tiny interval on a long video is coarsened to at most MAX_BIF_FRAMES frames, by whole seconds', () => {
    const facts = { duration: 24 * 3600, displayWidth: 1920, displayHeight: 1080 };
    const day = planBif(facts, 1, 320);
    assert.equal(day.interval, 10);
    assert.equal(day.times.length, MAX_BIF_FRAMES);
    const odd = planBif({ ...facts, duration: 30_000.5 }, 1, 320);
    assert.equal(odd.interval, 4);
    assert.ok(odd.times.length <= MAX_BIF_FRAMES && odd.times.at(-1)! < 30_000.5);
    assert.deepEqual(planBif({ ...facts, duration: 60 }, 10, 4000).size, { width: 1920, height: 1080 });
  });

  test('webp with bif is refused by name before any work; bad values name their option', async () => {
    assert.throws(
      () => parseGenerateOptions({ outputs: ['bif'], format: 'webp' }),
      (e: { code?: string; field?: string; message: string }) =>
        e.code === 'E_OPTION_INVALID' && e.field === 'format' && /\bbif\b/.test(e.message),
    );
    const dir = join(ARTIFACTS, 'bif-webp');
    await assert.rejects(
      generate({
        source: { kind: 'file', path: CITY },
        outDir: dir,
        options: { outputs: ['bif'], format: 'webp' },
      }),
      { code: 'E_OPTION_INVALID' },
    );
    await assert.rejects(readdir(dir), { code: 'ENOENT' }, 'nothing written');
    for (const [options, field] of [
      [{ bifInterval: 0 }, 'bifInterval'],
      [{ bifInterval: 2.5 }, 'bifInterval'],
      [{ bifInterval: '10' }, 'bifInterval'],
      [{ bifWidth: 4000 }, 'bifWidth'],
      [{ bifWidth: 20 }, 'bifWidth'],
    ] as const) {
      assert.throws(
        () => parseGenerateOptions(options),
        { code: 'E_OPTION_INVALID', field },
        JSON.stringify(options),
      );
    }
  });
});

describe('HiDPI storyboards', () => {
  test('160 and 320 px from one run: each VTT inside its own sheets, the 320 sheets the 160 ones at twice the size', async () => {
    const video = await media('clock40');
    const r = await run('hidpi', video, {
      outputs: ['storyboard'],
      storyboardWidths: [160, 320],
      storyboardInterval: 1,
      storyboardGrid: 4,
      storyboardTracks: ['vtt', 'hls', 'dash'],
    });
    const files = await readdir(r.dir);
    for (const name of [
      'storyboard-0.jpg',
      'storyboard-2.jpg',
      'storyboard.vtt',
      'storyboard.json',
      'storyboard.m3u8',
      'storyboard.mpd',
      'storyboard-320w-0.jpg',
      'storyboard-320w-2.jpg',
      'storyboard-320w.vtt',
      'storyboard-320w.json',
      'storyboard-320w.m3u8',
      'storyboard-320w.mpd',
    ]) {
      assert.ok(files.includes(name), `${name} written`);
    }
    const sheets = outputsOf(r, 'storyboard');
    assert.deepEqual(
      sheets.map((s) => [s.file, s.storyboardWidth, s.width, s.height]),
      [
        ['storyboard-0.jpg', 160, 640, 360],
        ['storyboard-1.jpg', 160, 640, 360],
        ['storyboard-2.jpg', 160, 640, 180],
        ['storyboard-320w-0.jpg', 320, 1280, 720],
        ['storyboard-320w-1.jpg', 320, 1280, 720],
        ['storyboard-320w-2.jpg', 320, 1280, 360],
      ],
    );
    // Every file is listed, with its size and width.
    for (const o of r.outputs) assert.ok(files.includes(o.file), `${o.file} listed and written`);

    const cuesAt = async (vtt: string) => parseStoryboardVtt(await readFile(join(r.dir, vtt), 'utf8'));
    const small = await cuesAt('storyboard.vtt');
    const large = await cuesAt('storyboard-320w.vtt');
    assert.equal(small.length, 40);
    assert.deepEqual(
      large.map((c) => [c.start, c.end]),
      small.map((c) => [c.start, c.end]),
      'the same tile times at both widths',
    );
    const decoded = new Map<string, Gray>();
    const sheet = async (file: string) => {
      if (!decoded.has(file)) decoded.set(file, await decodeGray(join(r.dir, file)));
      return decoded.get(file)!;
    };
    for (const [cues, width, pattern] of [
      [small, 160, /^storyboard-\d\.jpg$/],
      [large, 320, /^storyboard-320w-\d\.jpg$/],
    ] as const) {
      for (const cue of cues) {
        assert.match(cue.file, pattern);
        assert.equal(cue.w, width);
        const gray = await sheet(cue.file);
        assert.ok(
          cue.x + cue.w <= gray.width && cue.y + cue.h <= gray.height,
          `${cue.file}#${cue.x},${cue.y} inside`,
        );
      }
    }
    // The 320 px sheets scaled to the 160 px sheets' size: the same pictures (PSNR), not the same bytes.
    for (let s = 0; s < 3; s++) {
      const smallSheet = await sheet(`storyboard-${s}.jpg`);
      const halved = await decodeGray(join(r.dir, `storyboard-320w-${s}.jpg`), smallSheet);
      const db = psnr(smallSheet, halved);
      assert.ok(db > 30, `sheet ${s}: 320 px halved against 160 px, ${db.toFixed(1)} dB`);
      // And not merely alike: another sheet's tiles are far from these.
      const other = await sheet(`storyboard-${(s + 1) % 3}.jpg`);
      const tile = { x: 0, y: 0, width: 160, height: 90 };
      assert.ok(psnr(cropGray(smallSheet, tile), cropGray(other, tile)) < db - 8);
    }
  });

  test('portrait (rotated 90): both widths upright, each tile the video at its time', async () => {
    const video = await media('rotate90');
    const r = await run('hidpi-portrait', video, {
      outputs: ['storyboard'],
      storyboardWidths: [160, 320],
      mode: 'accurate',
    });
    for (const [vtt, width, height] of [
      ['storyboard.vtt', 160, 284],
      ['storyboard-320w.vtt', 320, 568],
    ] as const) {
      const cues = parseStoryboardVtt(await readFile(join(r.dir, vtt), 'utf8'));
      const sheet = await decodeGray(join(r.dir, cues[0]!.file));
      assert.deepEqual([sheet.width, sheet.height], [10 * width, height], `${vtt}: one row of upright tiles`);
      const times = outputsOf(r, 'storyboard').find((s) => s.file === cues[0]!.file)!.times!;
      const reference = await framesAt(video, times, width, height, 0.04);
      cues.forEach((cue, i) => {
        const db = psnr(
          cropGray(sheet, { x: cue.x, y: cue.y, width: cue.w, height: cue.h }),
          reference.get(times[i]!)!,
        );
        assert.ok(db > 25, `${vtt} cue ${i}: ${db.toFixed(1)} dB against the upright frame at ${times[i]} s`);
      });
    }
  });

  test('format webp: WebP sheets at both widths, named so by the VTT, the playlist and the MPD', async () => {
    const r = await run('hidpi-webp', CITY, {
      outputs: ['storyboard'],
      format: 'webp',
      storyboardWidths: [160, 320],
      storyboardTracks: ['vtt', 'hls', 'dash'],
    });
    for (const base of ['storyboard', 'storyboard-320w']) {
      const text = async (ext: string) => readFile(join(r.dir, `${base}.${ext}`), 'utf8');
      assert.match(await text('vtt'), new RegExp(`\\n${base}\\.webp#xywh=`));
      assert.match(await text('m3u8'), new RegExp(`\\n${base}\\.webp\\n#EXT-X-ENDLIST`));
      assert.match(await text('mpd'), new RegExp(`mimeType="image/webp"[\\s\\S]*media="${base}\\.webp"`));
      const sheet = outputsOf(r, 'storyboard').find((s) => s.file === `${base}.webp`)!;
      assert.equal(sheet.contentType, 'image/webp');
      const { width, height } = await decodeGray(join(r.dir, sheet.file));
      assert.deepEqual([width, height], [sheet.width, sheet.height]);
    }
  });

  test('widths: duplicates merged, at most MAX_STORYBOARD_WIDTHS, storyboardWidth must agree with the first', () => {
    assert.deepEqual(
      parseGenerateOptions({ storyboardWidths: [160, 160, 320] }).storyboardWidths,
      [160, 320],
    );
    // One width is the same job as storyboardWidth alone: the same options (and digest).
    assert.deepEqual(
      parseGenerateOptions({ storyboardWidths: [320] }),
      parseGenerateOptions({ storyboardWidth: 320 }),
    );
    assert.deepEqual(
      parseGenerateOptions({ storyboardWidth: 160, storyboardWidths: [160, 320] }).storyboardWidths,
      [160, 320],
    );
    for (const [options, field] of [
      [
        { storyboardWidths: Array.from({ length: MAX_STORYBOARD_WIDTHS + 1 }, (_, i) => 100 + 10 * i) },
        'storyboardWidths',
      ],
      [{ storyboardWidths: Array.from({ length: 100_000 }, () => 160) }, 'storyboardWidths'],
      [{ storyboardWidths: [] }, 'storyboardWidths'],
      [{ storyboardWidths: [160, 8] }, 'storyboardWidths.1'],
      [{ storyboardWidths: '160,320' }, 'storyboardWidths'],
      [{ storyboardWidth: 200, storyboardWidths: [160, 320] }, 'storyboardWidths'],
      [{ storyboardTracks: ['vtt', 'srt'] }, 'storyboardTracks.1'],
      [{ storyboardTracks: [] }, 'storyboardTracks'],
      [{ storyboardTracks: 'hls' }, 'storyboardTracks'],
    ] as const) {
      assert.throws(
        () => parseGenerateOptions(options),
        { code: 'E_OPTION_INVALID', field },
        JSON.stringify(options).slice(0, 80),
      );
    }
  });

  test('defaults: a job without the new options has exactly the options it had before them', () => {
    const options = parseGenerateOptions({});
    for (const key of ['storyboardWidths', 'storyboardTracks', 'bifInterval', 'bifWidth', 'posterTime']) {
      assert.ok(!(key in options), `${key} is left out`);
    }
    assert.deepEqual(
      parseGenerateOptions({
        storyboardTracks: ['vtt'],
        bifInterval: 10,
        bifWidth: 320,
        storyboardWidths: [160],
      }),
      options,
    );
  });
});

describe('poster at a chosen time', () => {
  test('3 s of black then colour bars: inside the black, the best of that second (still dark); after it, bright', async () => {
    const video = await media('blackIntro');
    const at = async (name: string, posterTime: number) => {
      const r = await run(`poster-${name}`, video, { outputs: ['poster'], posterTime });
      const [poster] = outputsOf(r, 'poster');
      return {
        time: poster!.times![0]!,
        luma: await meanLuma(join(r.dir, poster!.file)),
        duration: r.input.duration,
      };
    };
    const black = await at('black', 1);
    assert.ok(Math.abs(black.time - 1) <= 1, `asked 1 s, got ${black.time} s`);
    assert.ok(black.luma < 40, `the window holds only black: the poster is dark (${black.luma.toFixed(0)})`);
    const edge = await at('edge', 2.5);
    assert.ok(
      edge.time >= 3 && edge.time <= 3.5,
      `asked 2.5 s: the bright part of its window, ${edge.time} s`,
    );
    assert.ok(edge.luma > 60, `bright (${edge.luma.toFixed(0)})`);
    const late = await at('late', 6);
    assert.ok(Math.abs(late.time - 6) <= 1 && late.luma > 60, `asked 6 s, got ${late.time} s`);
    const past = await at('past', 1000);
    assert.ok(past.time >= past.duration - 1 && past.time <= past.duration, `past the end: ${past.time} s`);
  });

  test('candidate times stay within a second of the (clamped) time; bad values refused by name', () => {
    assert.deepEqual(posterWindowTimes(10, 5), [4, 4.25, 4.5, 4.75, 5, 5.25, 5.5, 5.75, 6]);
    assert.deepEqual(posterWindowTimes(10, 0), [0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1]);
    assert.ok(posterWindowTimes(10, 99).every((t) => t >= 9 && t <= 10));
    assert.deepEqual(posterWindowTimes(0.04, 3), [0, 0.005, 0.01, 0.015, 0.02, 0.025, 0.03, 0.035, 0.04]);
    for (const bad of [-1, Number.NaN, Number.POSITIVE_INFINITY, '5']) {
      assert.throws(() => parseGenerateOptions({ posterTime: bad }), {
        code: 'E_OPTION_INVALID',
        field: 'posterTime',
      });
    }
  });
});
