/**
 * The generated test media are what they claim to be: each property an engine test relies on
 * (rotation, field order, transfer, audio first, ...) is checked here with ffprobe, so an engine
 * test that passes cannot be passing on a video that lacks the difficulty it is meant to pose.
 */
import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import { describe, test } from 'node:test';
import { combing, frameAt, meanOf } from './support/images.js';
import {
  ffprobe,
  media,
  mediaAll,
  MEDIA,
  probeRotation,
  seededBytes,
  skipWithout,
  type MediaName,
} from './support/media.js';

interface Stream {
  index: number;
  codec_type: string;
  codec_name?: string;
  codec_tag_string?: string;
  width?: number;
  height?: number;
  pix_fmt?: string;
  sample_aspect_ratio?: string;
  field_order?: string;
  color_transfer?: string;
  color_primaries?: string;
  color_space?: string;
  nb_frames?: string;
}

interface Probe {
  streams: Stream[];
  format: { format_name: string; duration?: string; start_time?: string };
}

async function probe(name: MediaName): Promise<Probe> {
  return (await ffprobe(await media(name), ['-show_streams', '-show_format'])) as unknown as Probe;
}

function video(p: Probe): Stream {
  const stream = p.streams.find((s) => s.codec_type === 'video');
  assert.ok(stream, 'has a video stream');
  return stream;
}

/** Packets of the first video stream: time and whether each is a keyframe. */
async function packets(name: MediaName): Promise<{ time: number; key: boolean; duration: number }[]> {
  const json = await ffprobe(await media(name), [
    '-select_streams',
    'v:0',
    '-show_entries',
    'packet=pts_time,duration_time,flags',
  ]);
  return (json.packets as { pts_time: string; duration_time?: string; flags: string }[]).map((p) => ({
    time: Number(p.pts_time),
    key: p.flags.includes('K'),
    duration: Number(p.duration_time ?? NaN),
  }));
}

const duration = (p: Probe) => Number(p.format.duration);

describe('generated test media', { concurrency: 2 }, () => {
  test('every recipe generates (cached in .cache/media)', async (t) => {
    // On the bundled fallback, the recipes it cannot make are left to their own (skipped) tests.
    const names = (Object.keys(MEDIA) as MediaName[]).filter((n) => !skipWithout(n));
    if (names.length < Object.keys(MEDIA).length) t.diagnostic(`bundled ffmpeg: made ${names.join(', ')}`);
    const paths = await mediaAll(names);
    for (const [name, path] of Object.entries(paths)) {
      assert.match(path, /\/\.cache\/media\//, name);
      assert.ok((await stat(path)).isFile(), name);
    }
  });

  test('h264: 320x180, 10 s, a keyframe every second', async () => {
    const p = await probe('h264');
    const v = video(p);
    assert.equal(v.codec_name, 'h264');
    assert.deepEqual([v.width, v.height], [320, 180]);
    assert.ok(Math.abs(duration(p) - 10) < 0.05);
    const keys = (await packets('h264')).filter((k) => k.key).map((k) => k.time);
    assert.deepEqual(keys, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  test('audioFirst: stream 0 is audio, stream 1 is video', async () => {
    const p = await probe('audioFirst');
    assert.deepEqual(
      p.streams.map((s) => s.codec_type),
      ['audio', 'video'],
    );
  });

  test('mkv and webm carry no frame count', async () => {
    for (const name of ['mkv', 'webmVp9'] as const) {
      const p = await probe(name);
      assert.match(p.format.format_name, /matroska/);
      const v = video(p);
      assert.ok(v.nb_frames === undefined || v.nb_frames === 'N/A', `${name}: nb_frames ${v.nb_frames}`);
    }
    assert.equal(video(await probe('webmVp9')).codec_name, 'vp9');
  });

  test('rotate90 / rotate270: landscape storage with a display matrix', async () => {
    assert.equal(await probeRotation(await media('rotate90')), -90);
    assert.equal(await probeRotation(await media('rotate270')), 90);
    const v = video(await probe('rotate90'));
    assert.deepEqual([v.width, v.height], [320, 180]);
    // ffmpeg itself shows it upright: portrait.
    const frame = await frameAt(await media('rotate90'), 1, 90);
    assert.ok(frame.height > frame.width, `autorotated frame ${frame.width}x${frame.height}`);
  });

  test('sarWide: 720x576 with SAR 64:45', async () => {
    const v = video(await probe('sarWide'));
    assert.deepEqual([v.width, v.height, v.sample_aspect_ratio], [720, 576, '64:45']);
  });

  test('vfr: 10 fps then 30 fps', async () => {
    const list = await packets('vfr');
    const gaps = list
      .map((p) => p.time)
      .sort((a, b) => a - b)
      .slice(1)
      .map((t, i, all) => Math.round((t - (i === 0 ? 0 : all[i - 1]!)) * 1000));
    const before = list.filter((p) => p.time < 3.9).length;
    const after = list.filter((p) => p.time >= 4).length;
    assert.ok(Math.abs(before - 40) <= 1, `${before} frames in the first 4 s`);
    assert.ok(Math.abs(after - 120) <= 1, `${after} frames in the last 4 s`);
    assert.ok(new Set(gaps).size >= 2, 'frame intervals vary');
  });

  test('hevc10: HEVC Main 10, hvc1', async () => {
    const v = video(await probe('hevc10'));
    assert.deepEqual([v.codec_name, v.pix_fmt, v.codec_tag_string], ['hevc', 'yuv420p10le', 'hvc1']);
  });

  test('av1', { skip: skipWithout('av1') }, async () => {
    assert.equal(video(await probe('av1')).codec_name, 'av1');
  });

  test(
    'hdrPq: bt2020 / PQ with HDR10 metadata; hdrHlg: bt2020 / HLG',
    { skip: skipWithout('hdrPq', 'hdrHlg') },
    async () => {
      const pq = video(await probe('hdrPq'));
      assert.deepEqual(
        [pq.codec_name, pq.pix_fmt, pq.color_primaries, pq.color_transfer, pq.color_space],
        ['hevc', 'yuv420p10le', 'bt2020', 'smpte2084', 'bt2020nc'],
      );
      const frames = await ffprobe(await media('hdrPq'), [
        '-select_streams',
        'v:0',
        '-read_intervals',
        '%+#1',
        '-show_frames',
        '-show_entries',
        'frame_side_data=side_data_type,max_content',
      ]);
      const sideData = JSON.stringify(frames);
      assert.match(sideData, /Mastering display metadata/);
      assert.match(sideData, /Content light level metadata/);
      const hlg = video(await probe('hdrHlg'));
      assert.deepEqual(
        [hlg.pix_fmt, hlg.color_primaries, hlg.color_transfer],
        ['yuv420p10le', 'bt2020', 'arib-std-b67'],
      );
    },
  );

  test('interlaced: field order tt, and woven frames comb', async () => {
    const v = video(await probe('interlaced'));
    assert.equal(v.field_order, 'tt');
    const path = await media('interlaced');
    const woven = combing(await frameAt(path, 1.5, 640, { height: 360 }));
    const clean = combing(await frameAt(path, 1.5, 640, { height: 360, filter: 'bwdif' }));
    assert.ok(woven > 3 * clean, `combing woven ${woven.toFixed(2)} vs deinterlaced ${clean.toFixed(2)}`);
  });

  test('oneFrame, short10, oneKeyframe: frame and keyframe counts', async () => {
    assert.equal((await packets('oneFrame')).length, 1);
    assert.equal((await packets('short10')).length, 10);
    const one = await packets('oneKeyframe');
    assert.equal(one.length, 200);
    assert.equal(one.filter((p) => p.key).length, 1);
  });

  test('blackIntro: black for 3 s, bright after; fadeIn: dark at first, bright at the end', async () => {
    const black = await media('blackIntro');
    assert.ok(meanOf(await frameAt(black, 1.5, 160)) < 5);
    assert.ok(meanOf(await frameAt(black, 5, 160)) > 80);
    const fade = await media('fadeIn');
    const early = meanOf(await frameAt(fade, 0.3, 160));
    const late = meanOf(await frameAt(fade, 5, 160));
    assert.ok(early < 0.15 * late, `faded ${early} vs full ${late}`);
    assert.ok(late > 80);
  });

  test('mpegts and avi containers', { skip: skipWithout('mpegts', 'avi') }, async () => {
    const ts = await probe('mpegts');
    assert.equal(ts.format.format_name, 'mpegts');
    assert.ok(Number(ts.format.start_time) > 0.5, 'MPEG-TS starts at a non-zero time');
    assert.equal((await probe('avi')).format.format_name, 'avi');
  });

  test('audioOnly has no video stream', async () => {
    const p = await probe('audioOnly');
    assert.deepEqual(
      p.streams.map((s) => s.codec_type),
      ['audio'],
    );
  });

  test('cityA, cityB, cityC: 4 s of the real footage each, 640x360 H.264, no frame in common', async () => {
    const firstFrames: Uint8Array[] = [];
    for (const name of ['cityA', 'cityB', 'cityC'] as const) {
      const p = await probe(name);
      const v = video(p);
      assert.equal(v.codec_name, 'h264', name);
      assert.deepEqual([v.width, v.height], [640, 360], name);
      assert.equal(p.streams.length, 1, `${name}: no audio`);
      assert.ok(Math.abs(duration(p) - 4) < 0.05, `${name}: ${duration(p)} s`);
      firstFrames.push((await frameAt(await media(name), 0.5, 160)).data);
    }
    // Mean absolute difference of the first frames, pairwise: different pictures, not re-encodes.
    for (const [i, j] of [
      [0, 1],
      [0, 2],
      [1, 2],
    ] as const) {
      const a = firstFrames[i]!;
      const b = firstFrames[j]!;
      let sum = 0;
      for (let k = 0; k < a.length; k++) sum += Math.abs(a[k]! - b[k]!);
      assert.ok(sum / a.length > 8, `clips ${i} and ${j} start on different pictures (${sum / a.length})`);
    }
  });

  test('hostile files are what they say', async () => {
    assert.equal((await stat(await media('empty'))).size, 0);
    const random = await readFile(await media('randomBytes'));
    assert.deepEqual(new Uint8Array(random), seededBytes(256 * 1024, 0x5eed));
    const truncated = await readFile(await media('truncated'));
    assert.equal(truncated.subarray(4, 8).toString('latin1'), 'ftyp');
    assert.ok(!truncated.includes(Buffer.from('moov')), 'the truncated file lost its index');
    await assert.rejects(ffprobe(await media('truncated'), ['-show_streams']));
    const png = await readFile(await media('png'));
    assert.equal(png.subarray(1, 4).toString('latin1'), 'PNG');
    const jpeg = await readFile(await media('jpeg'));
    assert.deepEqual([...jpeg.subarray(0, 3)], [0xff, 0xd8, 0xff]);
  });
});
