/**
 * Engine acceptance for what must be refused or stopped: broken and disguised inputs, limits,
 * invalid options and cancellation. Each failure is a ThumbnailerError with its documented code, and
 * leaves nothing behind: no output folder content, no temporary files, no ffmpeg still running.
 *
 * Runs in its own process (node --test runs each file apart), so the ffmpeg children seen here are
 * this file's own.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ThumbnailerError, type ErrorCode } from '../src/errors.js';
import { generate } from '../src/engine/generate.js';
import { parseGenerateOptions, type GenerateOptionsInput } from '../src/engine/options.js';
import type { GenerateRequest, Progress } from '../src/engine/types.js';
import {
  ffconcatAsMp4,
  hlsPlaylistAsMp4,
  media,
  REPO_ROOT,
  skipWithout,
  type MediaName,
} from './support/media.js';

const ARTIFACTS = join(REPO_ROOT, 'test-artifacts', 'engine-hostile');
const SMALL = { width: 160 } as const;

/** Fresh, not yet existing output folder and an empty private temp parent for one case. */
async function folders(name: string): Promise<{ outDir: string; tempDir: string }> {
  const outDir = join(ARTIFACTS, name, 'out');
  const tempDir = join(ARTIFACTS, name, 'tmp');
  await rm(join(ARTIFACTS, name), { recursive: true, force: true });
  await mkdir(tempDir, { recursive: true });
  return { outDir, tempDir };
}

/** Files under a folder, recursively; [] when it does not exist. */
async function filesUnder(dir: string): Promise<string[]> {
  if (!existsSync(dir)) return [];
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => !e.isDirectory()).map((e) => join(e.parentPath ?? e.path, e.name));
}

/** Children of this process that are ffmpeg or ffprobe (Linux /proc). */
async function ffmpegChildren(): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      const m = /^\d+ \((.*)\) (\S) (\d+)/.exec(stat);
      if (m && Number(m[3]) === process.pid && /^ff(mpeg|probe)$/.test(m[1]!) && m[2] !== 'Z')
        pids.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return pids;
}

/** generate must reject with `code`, and leave no output and no temp files. */
async function expectRefusal(
  name: string,
  path: string,
  code: ErrorCode,
  extra: Partial<GenerateRequest> = {},
): Promise<ThumbnailerError> {
  const { outDir, tempDir } = await folders(name);
  let caught: unknown;
  try {
    await generate({ source: { kind: 'file', path }, outDir, tempDir, options: SMALL, ...extra });
  } catch (error) {
    caught = error;
  }
  assert.ok(caught !== undefined, `${name}: generate resolved; it must reject with ${code}`);
  assert.ok(
    caught instanceof ThumbnailerError,
    `${name}: rejected with ${String(caught)}, not a ThumbnailerError ${(caught as Error)?.stack ?? ''}`,
  );
  assert.equal(caught.code, code, `${name}: ${caught.code} (${caught.message})`);
  assert.ok(caught.message.length > 0 && !caught.message.includes('\n'), `${name}: one-line message`);
  assert.deepEqual(await filesUnder(outDir), [], `${name}: files left in the output folder`);
  assert.deepEqual(await filesUnder(tempDir), [], `${name}: files left in the temp folder`);
  assert.deepEqual(await ffmpegChildren(), [], `${name}: ffmpeg still running`);
  return caught;
}

describe('engine refuses bad inputs, leaving nothing behind', () => {
  const cases: [MediaName, ErrorCode][] = [
    ['randomBytes', 'E_NOT_A_VIDEO'],
    ['empty', 'E_INPUT_EMPTY'],
    ['truncated', 'E_CORRUPT_VIDEO'],
    ['png', 'E_NOT_A_VIDEO'],
    ['jpeg', 'E_NOT_A_VIDEO'],
    ['audioOnly', 'E_NO_VIDEO_STREAM'],
  ];
  for (const [name, code] of cases) {
    test(`${name} -> ${code}`, async () => {
      await expectRefusal(name, await media(name), code);
    });
  }

  test('a missing file -> E_INPUT_NOT_FOUND', async () => {
    await expectRefusal('missing', join(ARTIFACTS, 'no-such-video.mp4'), 'E_INPUT_NOT_FOUND');
  });

  test('an HLS playlist named .mp4 listing a local video -> E_FORMAT_REFUSED', async () => {
    const playlist = await hlsPlaylistAsMp4(await media('mpegts'));
    await expectRefusal('hls-local', playlist, 'E_FORMAT_REFUSED');
  });

  test('an ffconcat list named .mp4 pointing at a local video -> E_FORMAT_REFUSED', async () => {
    const list = await ffconcatAsMp4(await media('h264'));
    await expectRefusal('ffconcat-local', list, 'E_FORMAT_REFUSED');
  });

  describe('HLS playlists pointing at a loopback URL (a canary server)', () => {
    let server: Server;
    let port = 0;
    const canary: string[] = [];
    let playlist = Buffer.alloc(0);
    before(async () => {
      const segment = await readFile(await media('mpegts'));
      server = createServer((req, res) => {
        if (req.url === '/video.mp4') {
          // The disguised playlist itself, served like a blob: with range support.
          const m = /bytes=(\d+)-(\d*)/.exec(req.headers.range ?? '');
          const start = m ? Number(m[1]) : 0;
          const end = m?.[2] ? Math.min(Number(m[2]) + 1, playlist.length) : playlist.length;
          res.writeHead(m ? 206 : 200, {
            'content-type': 'video/mp4',
            'content-length': String(end - start),
            ...(m ? { 'content-range': `bytes ${start}-${end - 1}/${playlist.length}` } : {}),
          });
          res.end(playlist.subarray(start, end));
          return;
        }
        canary.push(`${req.method} ${req.url}`);
        res.writeHead(200, { 'content-type': 'video/mp2t' }).end(segment);
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      port = (server.address() as AddressInfo).port;
    });
    after(() => new Promise<void>((resolve) => server.close(() => resolve())));

    test('a local playlist naming http://127.0.0.1/x.ts -> E_FORMAT_REFUSED, canary untouched', async () => {
      const path = await hlsPlaylistAsMp4(`http://127.0.0.1:${port}/x.ts`);
      await expectRefusal('hls-loopback', path, 'E_FORMAT_REFUSED');
      assert.deepEqual(canary, [], 'requests reached the canary');
    });

    test('the same playlist read from an http URL -> E_FORMAT_REFUSED, canary untouched', async () => {
      // Served over http, a playlist may name http segments as far as ffmpeg is concerned.
      playlist = await readFile(await hlsPlaylistAsMp4(`http://127.0.0.1:${port}/x.ts`));
      const { outDir, tempDir } = await folders('hls-url');
      await assert.rejects(
        generate({ source: { kind: 'url', url: `http://127.0.0.1:${port}/video.mp4` }, outDir, tempDir }),
        (error: unknown) => error instanceof ThumbnailerError && error.code === 'E_FORMAT_REFUSED',
      );
      assert.deepEqual(canary, [], 'requests reached the canary');
      assert.deepEqual(await filesUnder(outDir), []);
      assert.deepEqual(await filesUnder(tempDir), []);
    });
  });
});

describe('engine enforces limits', () => {
  test('duration over maxDurationSeconds -> E_LIMIT_EXCEEDED', async () => {
    await expectRefusal('limit-duration', await media('h264'), 'E_LIMIT_EXCEEDED', {
      limits: { maxDurationSeconds: 5 },
    });
  });

  test('pixels over maxPixels -> E_LIMIT_EXCEEDED', async () => {
    await expectRefusal('limit-pixels', await media('h264'), 'E_LIMIT_EXCEEDED', {
      limits: { maxPixels: 320 * 100 },
    });
  });

  test('bytes over maxInputBytes -> E_LIMIT_EXCEEDED', async () => {
    await expectRefusal('limit-bytes', await media('h264'), 'E_LIMIT_EXCEEDED', {
      limits: { maxInputBytes: 1000 },
    });
  });
});

describe('invalid options are refused before any work, naming the option', () => {
  const cases: [string, Record<string, unknown>][] = [
    ['rows', { rows: 0 }],
    ['cols', { cols: 21 }],
    ['width', { width: 'wide' }],
    ['height', { height: 5 }],
    ['padding', { padding: -1 }],
    ['margin', { margin: 1.5 }],
    ['color', { color: 'red; drop' }],
    ['quality', { quality: 0 }],
    ['mode', { mode: 'slow' }],
    ['outputs', { outputs: ['strip', 'video'] }],
    ['storyboardInterval', { storyboardInterval: 0 }],
    ['storyboardWidth', { storyboardWidth: 10_000 }],
    ['width', { width: 160, height: 90 }],
    ['bogus', { bogus: true }],
  ];
  for (const [option, input] of cases) {
    test(`${JSON.stringify(input)} -> E_OPTION_INVALID naming ${option}`, async () => {
      assert.throws(
        () => parseGenerateOptions(input),
        (error: unknown) =>
          error instanceof ThumbnailerError &&
          error.code === 'E_OPTION_INVALID' &&
          error.message.includes(option),
      );
      // Through generate too, with a source that does not even exist: options come first.
      const { outDir } = await folders(`option-${option}`);
      await assert.rejects(
        generate({
          source: { kind: 'file', path: join(ARTIFACTS, 'nothing.mp4') },
          outDir,
          options: input as GenerateOptionsInput,
        }),
        (error: unknown) =>
          error instanceof ThumbnailerError &&
          error.code === 'E_OPTION_INVALID' &&
          error.message.includes(option),
      );
      assert.deepEqual(await filesUnder(outDir), []);
    });
  }

  test('the defaults are the seed spec: 10x5 tiles, 600 px wide, quality 10, fast; strip, poster, storyboard', () => {
    const o = parseGenerateOptions({});
    assert.deepEqual(
      [o.cols, o.rows, o.width, o.height, o.quality, o.mode, o.outputs],
      [10, 5, 600, undefined, 10, 'fast', ['strip', 'poster', 'storyboard']],
    );
    assert.deepEqual([o.storyboardInterval, o.storyboardWidth], [10, 160]);
  });
});

describe('cancellation', () => {
  test('a signal aborted before the start -> E_CANCELED, nothing written', async () => {
    const controller = new AbortController();
    controller.abort();
    await expectRefusal('abort-before', await media('h264'), 'E_CANCELED', { signal: controller.signal });
  });

  test('aborting at the first progress after probing -> E_CANCELED, nothing left', async () => {
    const controller = new AbortController();
    const seen: Progress[] = [];
    await expectRefusal('abort-progress', await media('h264'), 'E_CANCELED', {
      signal: controller.signal,
      onProgress: (p) => {
        seen.push(p);
        if (p.phase !== 'probe') controller.abort();
      },
    });
    assert.ok(
      seen.some((p) => p.phase !== 'probe'),
      `no progress after probing: ${JSON.stringify(seen)}`,
    );
  });

  test(
    'aborting while ffmpeg runs kills it -> E_CANCELED, no child left, nothing written',
    { skip: skipWithout('hdrPq') },
    async () => {
      const path = await media('hdrPq');
      const controller = new AbortController();
      let probed = false;
      let done = false;
      let running: number[] = [];
      // Abort as soon as an ffmpeg child of ours is seen after probing: the job is then mid-way.
      const watcher = (async () => {
        while (!done && !controller.signal.aborted) {
          if (probed) {
            running = await ffmpegChildren();
            if (running.length > 0) controller.abort();
          }
          await new Promise((resolve) => setTimeout(resolve, 2));
        }
      })();
      try {
        await expectRefusal('abort-mid', path, 'E_CANCELED', {
          signal: controller.signal,
          options: { ...SMALL, mode: 'accurate', storyboardInterval: 0.5 },
          onProgress: (p) => {
            if (p.phase !== 'probe') probed = true;
          },
        });
      } catch (error) {
        if (!controller.signal.aborted) {
          assert.fail(
            `the job ended before an ffmpeg child was seen, so nothing was aborted: ${String(error)}`,
          );
        }
        throw error;
      } finally {
        done = true;
        await watcher;
      }
      assert.ok(running.length > 0, 'ffmpeg was running when the job was aborted');
    },
  );
});
