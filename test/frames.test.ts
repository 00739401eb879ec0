import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
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

  test('the index is read once: a frame then reads only its own samples, a repeated one nothing', async () => {
    const key = 'fixture-b-once';
    const src = async () => ({ kind: 'file' as const, path: video });
    const size = (await stat(video)).size;
    const first = await frames.frame(key, src, { time: 4.2, width: 320, mode: 'fast', format: 'jpg' });
    assert.ok(
      first.bytesRead > 0 && first.bytesRead < size / 4,
      `one keyframe: ${first.bytesRead} of ${size}`,
    );
    const again = await frames.frame(key, src, { time: 4.5, width: 320, mode: 'fast', format: 'jpg' });
    assert.equal(again.actualTime, 4);
    assert.equal(again.bytesRead, 0);
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
});
