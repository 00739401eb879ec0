import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { FfmpegError, runFfmpeg, spawnTool, type RunOptions } from '../src/engine/exec.js';
import { ffmpeg } from './support/media.js';

/**
 * A decode run can start before its input exists: it reads a selection file from stdin, streamed
 * once written. The stall watchdog must not count the wait for the first byte, and must still stop
 * a run whose input stops coming.
 */
let work: string;
let clip: Buffer;
/** Stands in for a child that ignores SIGTERM (and says so): only SIGKILL stops it. */
let deaf: string;

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'thumbnailer-exec-'));
  const path = join(work, 'clip.mkv');
  await ffmpeg(['-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=s=160x90:r=10:d=3', '-c:v', 'libx264', path]);
  clip = await readFile(path);
  deaf = join(work, 'ignores-sigterm');
  await writeFile(
    deaf,
    [
      '#!/bin/sh',
      `trap 'echo "SIGTERM ignored" >&2' TERM`,
      'while :; do',
      '  [ "$1" = chatty ] && echo "a line of output"',
      '  sleep 0.1',
      'done',
      '',
    ].join('\n'),
  );
  await chmod(deaf, 0o755);
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
    const error = await failure(
      runFfmpeg(countFrames, { stdin: feed, stallTimeoutMs: 800, timeoutMs: 20_000 }),
    );
    assert.equal(error.code, 'E_FFMPEG_TIMEOUT');
    // ffmpeg waiting for input sees SIGTERM only once it reads: its stdin is closed with it, so no
    // SIGKILL is needed.
    assert.notEqual(error.signalName, 'SIGKILL');
    feed.destroy();
  });
});

/** What a stopped run rejected with. */
async function failure(run: Promise<unknown>): Promise<FfmpegError> {
  const error = await run.then(
    () => assert.fail('the run should have been stopped'),
    (e: unknown) => e,
  );
  assert.ok(error instanceof FfmpegError, String(error));
  return error;
}

/** Endless frames from lavfi: a run that only a stop ends. */
const endless = (output: string[]) => ['-f', 'lavfi', '-i', 'testsrc2=s=160x90:r=25', ...output];

describe('runTool', () => {
  test(
    'stdout past maxStdoutBytes: ffmpeg is stopped, E_FFMPEG_FAILED, nothing past the cap handed on',
    { timeout: 60_000 },
    async () => {
      // 20 frames (288 000 bytes): more than one pipe read can bring (64 KiB), so the first chunk
      // is handed on whatever the timing, and the run is stopped on a later one.
      const frame = 160 * 90;
      const cap = 20 * frame;
      let handedOn = 0;
      const error = await failure(
        runFfmpeg(endless(['-f', 'rawvideo', '-pix_fmt', 'gray', 'pipe:1']), {
          maxStdoutBytes: cap,
          timeoutMs: 30_000,
          onStdout: (_chunk, total) => (handedOn = total),
        }),
      );
      assert.equal(error.code, 'E_FFMPEG_FAILED');
      assert.match(error.message, /^ffmpeg produced more output than allowed$/);
      assert.ok(handedOn > 0 && handedOn <= cap, `${handedOn} bytes handed on`);
      // SIGTERM was enough: ffmpeg stopped itself (or died of it), no SIGKILL.
      assert.notEqual(error.signalName, 'SIGKILL');
    },
  );

  test(
    'its hard timeout stops ffmpeg with SIGTERM: E_FFMPEG_TIMEOUT, no SIGKILL needed',
    { timeout: 60_000 },
    async () => {
      const error = await failure(runFfmpeg(endless(['-f', 'null', '-']), { timeoutMs: 1000 }));
      assert.equal(error.code, 'E_FFMPEG_TIMEOUT');
      assert.equal(error.message, 'ffmpeg ran longer than 1000 ms and was stopped');
      assert.ok(error.timedOut);
      assert.notEqual(error.signalName, 'SIGKILL');
    },
  );

  test('a missing binary is E_FFMPEG_MISSING, with the fix in one sentence', async () => {
    const missing = join(work, 'no-such-ffmpeg');
    const error = await failure(spawnTool(missing, 'ffmpeg', ['-version']));
    assert.equal(error.code, 'E_FFMPEG_MISSING');
    assert.equal(
      error.message,
      `ffmpeg is not installed at ${missing}: install ffmpeg (apt-get install ffmpeg) or set FFMPEG_PATH/FFPROBE_PATH.`,
    );
    assert.doesNotMatch(error.message, /ENOENT|spawn/);
  });

  // A child that ignores SIGTERM is still killed, however it came to be stopped, and the outcome
  // is reported as what stopped it.
  const cases: { why: string; args: string[]; options: () => RunOptions; code: string; message: RegExp }[] = [
    {
      why: 'hard timeout',
      args: [],
      options: () => ({ timeoutMs: 300 }),
      code: 'E_FFMPEG_TIMEOUT',
      message: /^ffmpeg ran longer than 300 ms and was stopped$/,
    },
    {
      why: 'stall',
      args: [],
      options: () => ({ stallTimeoutMs: 300 }),
      code: 'E_FFMPEG_TIMEOUT',
      message: /^ffmpeg stopped making progress and was stopped$/,
    },
    {
      why: 'cancel',
      args: [],
      options: () => ({ signal: AbortSignal.timeout(300) }),
      code: 'E_CANCELED',
      message: /^ffmpeg was canceled$/,
    },
    {
      why: 'stdout overflow',
      args: ['chatty'],
      options: () => ({ maxStdoutBytes: 10 }),
      code: 'E_FFMPEG_FAILED',
      message: /^ffmpeg produced more output than allowed$/,
    },
  ];
  for (const c of cases) {
    test(
      `${c.why}: a child that ignores SIGTERM gets SIGKILL after the grace`,
      { timeout: 30_000 },
      async () => {
        const error = await failure(spawnTool(deaf, 'ffmpeg', c.args, { ...c.options(), killGraceMs: 500 }));
        assert.equal(error.code, c.code);
        assert.match(error.message, c.message);
        assert.match(error.stderrTail, /SIGTERM ignored/, 'SIGTERM came first');
        assert.equal(error.signalName, 'SIGKILL');
      },
    );
  }
});
