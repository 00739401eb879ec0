import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { runFfmpeg } from '../src/engine/exec.js';
import { ffmpeg } from './support/media.js';

/**
 * A decode run can start before its input exists: it reads a selection file from stdin, streamed
 * once written. The stall watchdog must not count the wait for the first byte, and must still stop
 * a run whose input stops coming.
 */
let work: string;
let clip: Buffer;

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'thumbnailer-exec-'));
  const path = join(work, 'clip.mkv');
  await ffmpeg(['-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=s=160x90:r=10:d=3', '-c:v', 'libx264', path]);
  clip = await readFile(path);
});
after(() => rm(work, { recursive: true, force: true }));

const countFrames = ['-f', 'matroska', '-i', 'pipe:0', '-f', 'null', '-'];

describe('ffmpeg fed through stdin', () => {
  test('input that arrives later than the stall timeout is decoded whole', async () => {
    const feed = new PassThrough();
    setTimeout(() => feed.end(clip), 1200);
    let frames = 0;
    await runFfmpeg(countFrames, {
      stdin: feed,
      stallTimeoutMs: 400,
      timeoutMs: 20_000,
      onFrames: (n) => (frames = n),
    });
    assert.equal(frames, 30);
  });

  test('input that stops coming is a stall: the run is stopped', async () => {
    const feed = new PassThrough();
    feed.write(clip.subarray(0, Math.floor(clip.length / 2)));
    await assert.rejects(runFfmpeg(countFrames, { stdin: feed, stallTimeoutMs: 800, timeoutMs: 20_000 }), {
      code: 'E_FFMPEG_TIMEOUT',
    });
    feed.destroy();
  });
});
