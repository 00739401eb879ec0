import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DEFAULT_LIMITS } from '../src/engine/options.js';
import { openByteSource } from '../src/engine/source.js';
import { openVideo } from '../src/engine/video.js';
import { ffmpeg, media, skipWithout, type MediaName } from './support/media.js';

/**
 * A local file is probed whole while its index is read; a remote one through a one-keyframe
 * sample. Both must say the same of the video: the tiles' shape, deinterlacing and tone mapping
 * follow from these facts.
 */
let work: string;
before(async () => {
  work = await mkdtemp(join(tmpdir(), 'thumbnailer-probe-routes-'));
});
after(() => rm(work, { recursive: true, force: true }));

/** Opens `path` as a local file, or as ranged bytes the way a blob is read; returns the facts. */
async function factsThrough(path: string, how: 'local' | 'remote', name: string) {
  const folder = await mkdtemp(join(work, `${name}-${how}-`));
  const data = how === 'remote' ? await readFile(path) : undefined;
  const bytes = await openByteSource(
    data
      ? { kind: 'ranged', name: path, size: data.length, read: async (s, e) => data.subarray(s, e) }
      : { kind: 'file', path },
  );
  try {
    const video = await openVideo(bytes, { work: folder, limits: DEFAULT_LIMITS });
    await video.dispose();
    return { facts: video.facts, sampled: (await readdir(folder)).includes('probe-sample.mkv') };
  } finally {
    await bytes.close();
  }
}

describe('probe: a local file probed whole, a remote one through a sample', () => {
  const cases: [MediaName, (facts: Awaited<ReturnType<typeof factsThrough>>['facts']) => void][] = [
    [
      'sarWide',
      (f) => assert.deepEqual([f.sampleAspectRatio, f.displayWidth, f.displayHeight], ['64:45', 1024, 576]),
    ],
    ['interlaced', (f) => assert.equal(f.interlaced, true)],
    ['rotate90', (f) => assert.deepEqual([f.rotation, f.displayWidth, f.displayHeight], [90, 180, 320])],
    ['hevc10', (f) => assert.deepEqual([f.codec, f.pixelFormat], ['hevc', 'yuv420p10le'])],
    ['audioFirst', (f) => assert.equal(f.hasAudio, true)],
    ['webmVp9', (f) => assert.equal(f.codec, 'vp9')],
    ['hdrPq', (f) => assert.equal(f.hdr, 'pq')],
  ];
  for (const [name, check] of cases) {
    test(`${name}: the same facts either way`, { skip: skipWithout(name) }, async () => {
      const path = await media(name);
      const local = await factsThrough(path, 'local', name);
      const remote = await factsThrough(path, 'remote', name);
      assert.equal(local.sampled, false, 'the local file needed no sample');
      assert.equal(remote.sampled, true, 'the remote file was probed through a sample');
      check(local.facts);
      assert.deepEqual({ ...local.facts, name: '' }, { ...remote.facts, name: '' });
    });
  }

  test('two video streams: the whole-file probe is not trusted to be the track, the sample is', async () => {
    const path = join(work, 'two-videos.mkv');
    // Stream 0 progressive 320x180, stream 1 interlaced 640x360: only the first is the track.
    await ffmpeg([
      ...['-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=s=320x180:r=25:d=2'],
      ...['-f', 'lavfi', '-i', 'testsrc2=s=640x360:r=25:d=2'],
      ...['-map', '0:v', '-map', '1:v', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p'],
      ...['-flags:v:1', '+ildct+ilme', '-x264opts:v:1', 'tff=1', path],
    ]);
    const local = await factsThrough(path, 'local', 'two');
    assert.equal(local.sampled, true);
    assert.deepEqual([local.facts.width, local.facts.height, local.facts.interlaced], [320, 180, false]);
  });
});
