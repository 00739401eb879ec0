import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { FFMPEG, FFPROBE } from './support/binaries.js';
import { FrameService } from '../src/engine/frames.js';

const run = promisify(execFile);
let work: string;
let video: string;
const frames = new FrameService();

async function decodedSize(data: Buffer, name: string): Promise<string> {
  const path = join(work, name);
  await writeFile(path, data);
  const { stdout } = await run(FFPROBE, [
    '-v',
    'error',
    '-show_entries',
    'stream=codec_name,width,height',
    '-of',
    'csv=p=0',
    path,
  ]);
  return stdout.trim();
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'thumbnailer-frames-'));
  // Keyframes every second at 25 fps.
  video = join(work, 'gop1s.mp4');
  await run(FFMPEG, [
    '-v',
    'error',
    '-f',
    'lavfi',
    '-i',
    'testsrc2=s=320x180:r=25:d=6',
    '-c:v',
    'libx264',
    '-preset',
    'ultrafast',
    '-g',
    '25',
    '-pix_fmt',
    'yuv420p',
    video,
  ]);
});
after(async () => {
  await frames.close();
  await rm(work, { recursive: true, force: true });
});

describe('frames on demand', () => {
  const source = async () => ({ kind: 'file' as const, path: video });

  test('fast mode gives the keyframe at or before the time; accurate the exact frame', async () => {
    const fast = await frames.frame('gop1s', source, { time: 2.9, width: 160, mode: 'fast', format: 'jpg' });
    assert.equal(fast.actualTime, 2);
    assert.equal(await decodedSize(fast.data, 'fast.jpg'), 'mjpeg,160,90');
    const exact = await frames.frame('gop1s', source, {
      time: 2.9,
      width: 200,
      mode: 'accurate',
      format: 'webp',
    });
    assert.equal(exact.actualTime, 2.88);
    assert.equal(await decodedSize(exact.data, 'exact.webp'), 'webp,200,112');
  });

  test('the index of a blob is read once: a frame then reads only its own samples, a repeated one nothing', async () => {
    const key = 'fixture-b-once';
    // Ranged, like a blob: a local file is read ahead (where bytes cost nothing, reads do).
    const data = await readFile(video);
    const src = async () => ({
      kind: 'ranged' as const,
      name: 'blob.mp4',
      size: data.length,
      read: async (start: number, end: number) => new Uint8Array(data.subarray(start, end)),
    });
    const size = data.length;
    const first = await frames.frame(key, src, { time: 4.2, width: 320, mode: 'fast', format: 'jpg' });
    assert.ok(
      first.bytesRead > 0 && first.bytesRead < size / 4,
      `one keyframe: ${first.bytesRead} of ${size}`,
    );
    const again = await frames.frame(key, src, { time: 4.5, width: 320, mode: 'fast', format: 'jpg' });
    assert.equal(again.actualTime, 4);
    assert.equal(again.bytesRead, 0);
  });

  test('a WebM: a kept keyframe serves a repeated frame, and the exact frames after it', async () => {
    const webm = join(work, 'gop1s.webm');
    await run(FFMPEG, [
      ...['-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=s=320x180:r=25:d=6'],
      ...['-c:v', 'libvpx', '-deadline', 'realtime', '-g', '25', '-pix_fmt', 'yuv420p', webm],
    ]);
    const src = async () => ({ kind: 'file' as const, path: webm });
    const first = await frames.frame('webm', src, { time: 3.5, width: 160, mode: 'fast', format: 'jpg' });
    assert.equal(first.actualTime, 3);
    const again = await frames.frame('webm', src, { time: 3.6, width: 160, mode: 'fast', format: 'jpg' });
    assert.equal(again.bytesRead, 0);
    // Accurate: the kept keyframe, then the packets after it, read from the demuxer's own place.
    const exact = await frames.frame('webm', src, { time: 3.6, width: 160, mode: 'accurate', format: 'jpg' });
    assert.equal(exact.actualTime, 3.6);
    assert.equal(await decodedSize(exact.data, 'exact-webm.jpg'), 'mjpeg,160,90');
  });

  test('a time outside the video or a bad width is refused', async () => {
    await assert.rejects(
      frames.frame('gop1s', source, { time: 7, width: 160, mode: 'fast', format: 'jpg' }),
      { code: 'E_OPTION_INVALID', message: /time/ },
    );
    await assert.rejects(
      frames.frame('gop1s', source, { time: 1, width: 5000, mode: 'fast', format: 'jpg' }),
      { code: 'E_OPTION_INVALID', message: /width/ },
    );
  });

  test('a frame taller than a picture can be (1280 px wide of a 16x4096 video) is refused by name', async () => {
    const tall = join(work, 'tall.mp4');
    const args = ['-v', 'error', '-f', 'lavfi', '-i', 'testsrc=s=16x4096:r=5:d=2', '-c:v', 'libx264'];
    await run(FFMPEG, [...args, '-pix_fmt', 'yuv420p', tall]);
    const tallSource = async () => ({ kind: 'file' as const, path: tall });
    await assert.rejects(
      frames.frame('tall', tallSource, { time: 1, width: 1280, mode: 'fast', format: 'jpg' }),
      {
        code: 'E_OPTION_INVALID',
        field: 'width',
        message: /frame of 1280x327680.*smaller width/,
      },
    );
    const small = await frames.frame('tall', tallSource, { time: 1, width: 16, mode: 'fast', format: 'jpg' });
    assert.deepEqual([small.width, small.height], [16, 4096]);
    assert.equal(small.data.subarray(0, 2).toString('hex'), 'ffd8', 'a JPEG');
  });
});

describe('frames on demand, bounded', () => {
  /** The fixture as a ranged source that counts the reads reaching the file. */
  async function countedSource(path: string, onRead?: () => void) {
    const data = await readFile(path);
    const counter = { reads: 0, bytes: 0 };
    const source = async () => ({
      kind: 'ranged' as const,
      name: 'counted.mp4',
      size: data.length,
      read: async (start: number, end: number) => {
        counter.reads += 1;
        counter.bytes += end - start;
        onRead?.();
        return new Uint8Array(data.subarray(start, end));
      },
    });
    return { source, counter };
  }

  test('the open indexes are bounded in bytes: past the bound, the least recently used is dropped', async () => {
    const small = new FrameService({ maxCacheBytes: 1 });
    const roomy = new FrameService({ maxCacheBytes: 1024 ** 3 });
    try {
      for (const service of [small, roomy]) {
        const { source, counter } = await countedSource(video);
        const request = { time: 1, width: 160, mode: 'fast', format: 'jpg' } as const;
        await service.frame('a', source, request);
        const afterFirst = counter.bytes;
        await service.frame('a', source, request);
        const reread = counter.bytes - afterFirst;
        if (service === small) {
          assert.ok(reread > 0, 'an index over the bound was dropped and read again');
          assert.equal(service.cacheBytes(), 0);
        } else {
          assert.equal(reread, 0, 'within the bound, the index stays');
          assert.ok(service.cacheBytes() > 0);
        }
      }
    } finally {
      await small.close();
      await roomy.close();
    }
  });

  test('a requester that goes away stops the index read: no further byte is read', async () => {
    const service = new FrameService();
    const controller = new AbortController();
    let readsAfterAbort = 0;
    const { source, counter } = await countedSource(video, () => {
      if (controller.signal.aborted) readsAfterAbort += 1;
      // Gone after the first read of the container.
      if (counter.reads === 1) controller.abort();
    });
    try {
      await assert.rejects(
        service.frame('gone', source, {
          time: 1,
          width: 160,
          mode: 'fast',
          format: 'jpg',
          signal: controller.signal,
        }),
        { code: 'E_CANCELED' },
      );
      assert.equal(readsAfterAbort, 0, `${counter.reads} reads`);
      // The next requester opens it afresh.
      const frame = await service.frame('gone', source, { time: 1, width: 160, mode: 'fast', format: 'jpg' });
      assert.equal(frame.actualTime, 1);
    } finally {
      await service.close();
    }
  });

  test('indexOnly refuses a video the index route cannot read, before reading it whole', async () => {
    const tsPath = join(work, 'gop1s.ts');
    await run(FFMPEG, ['-v', 'error', '-i', video, '-c', 'copy', '-f', 'mpegts', tsPath]);
    const service = new FrameService({ indexOnly: true });
    const { source, counter } = await countedSource(tsPath);
    try {
      await assert.rejects(
        service.frame('ts', source, { time: 1, width: 160, mode: 'fast', format: 'jpg' }),
        {
          code: 'E_FRAME_UNAVAILABLE',
        },
      );
      assert.ok(counter.bytes <= 4096, `${counter.bytes} bytes read`);
    } finally {
      await service.close();
    }
  });
});
