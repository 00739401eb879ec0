import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createStorage, type Storage } from '../src/adapters/storage.js';
import type { Settings } from '../src/config.js';
import { generate } from '../src/engine/generate.js';
import { FrameService } from '../src/engine/frames.js';
import { assertUsableFacts } from '../src/engine/verdicts.js';
import { handleMessage } from '../src/jobs/handler.js';
import { jobDepsFrom } from '../src/jobs/deps.js';
import { engineLimitsFrom } from '../src/jobs/limits.js';
import { startAzurite, type TestAzurite } from './support/azurite.js';
import { ffmpeg } from './support/media.js';
import { memoryLogger, testSettings } from './support/worker.js';

/**
 * Inputs that can never succeed get a permanent verdict on their first delivery (poisoned with a
 * reason), not five transient retries: no retry changes a name or a file.
 */

let azurite: TestAzurite;
let storage: Storage;
let settings: Settings;
let work: string;
const files: Record<string, string> = {};

/** H.264 in Matroska whose pixels claim a shape no display has (the stream itself is fine). */
async function withSar(name: string, sar: string): Promise<string> {
  const out = join(work, `${name}.mkv`);
  await ffmpeg([
    ...['-f', 'lavfi', '-i', 'testsrc2=size=320x180:rate=25:duration=2'],
    ...['-vf', `setsar=${sar}`],
    ...['-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-g', '25'],
    out,
  ]);
  return out;
}

/** MPEG-4 Part 2 in AVI under a codec tag no decoder knows (the stream is otherwise fine). */
async function unknownCodec(): Promise<string> {
  const ok = join(work, 'known.avi');
  await ffmpeg([...['-f', 'lavfi', '-i', 'testsrc2=size=320x180:rate=25:duration=2'], '-c:v', 'mpeg4', ok]);
  const bytes = await readFile(ok);
  const out = join(work, 'unknown.avi');
  await writeFile(out, Buffer.from(bytes.toString('latin1').replaceAll('FMP4', 'ZZZZ'), 'latin1'));
  return out;
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'thumbnailer-verdicts-'));
  files.unknown = await unknownCodec();
  files.thin = await withSar('thin', '1/65535');
  files.wide = await withSar('wide', '100/1');
  azurite = await startAzurite();
  settings = testSettings(azurite.connectionString, azurite.names('verdicts'));
  storage = await createStorage(settings);
  await storage.ensure();
});
after(async () => {
  await azurite?.stop();
  await rm(work, { recursive: true, force: true });
});

async function firstDelivery(body: string) {
  const { logger } = memoryLogger();
  const deps = jobDepsFrom(settings, storage, logger, generate, engineLimitsFrom(settings));
  return handleMessage(
    { id: `m-${Math.random()}`, text: body, dequeueCount: 1 },
    { ...deps, tempDir: work },
    { signal: new AbortController().signal },
  );
}

describe('permanent verdicts for inputs that can never succeed', () => {
  for (const [name, sar] of [
    ['thin', '1:65535'],
    ['wide', '100:1'],
  ] as const) {
    test(`a sample aspect ratio of ${sar} is poisoned at once as E_CORRUPT_VIDEO`, async () => {
      const video = `sar-${name}.mkv`;
      await storage.blobs.uploadFile(storage.videoContainer, video, files[name]!, {
        contentType: 'video/x-matroska',
      });
      const decision = await firstDelivery(video);
      assert.equal(decision.action, 'poison', JSON.stringify(decision));
      assert.ok(decision.action === 'poison');
      assert.equal(decision.error.code, 'E_CORRUPT_VIDEO');
      assert.match(decision.error.message, new RegExp(`sample aspect ratio ${sar}`));
      assert.equal(
        await storage.blobs.readText(storage.thumbnailContainer, `${video}/manifest.json`),
        undefined,
      );
    });
  }

  test('a codec ffmpeg has no decoder for is poisoned at once as E_FORMAT_REFUSED, naming why', async () => {
    const video = 'unknown-codec.avi';
    await storage.blobs.uploadFile(storage.videoContainer, video, files.unknown!);
    const decision = await firstDelivery(video);
    assert.ok(decision.action === 'poison', JSON.stringify(decision));
    assert.equal(decision.error.code, 'E_FORMAT_REFUSED');
    assert.match(decision.error.message, /no decoder/);
  });

  test('a picture without a size, a zero or absurd aspect ratio, or no duration: E_CORRUPT_VIDEO', () => {
    const facts = {
      name: 'x',
      size: 1,
      container: 'mp4',
      duration: 2,
      codec: 'h264',
      width: 320,
      height: 180,
      displayWidth: 320,
      displayHeight: 180,
      rotation: 0,
      sampleAspectRatio: '1:1',
      interlaced: false,
      hasAudio: false,
    };
    assert.doesNotThrow(() => assertUsableFacts(facts));
    assert.doesNotThrow(() => assertUsableFacts({ ...facts, sampleAspectRatio: 'N/A' }), 'unstated: square');
    for (const bad of [
      { width: 0, displayWidth: 0 },
      { height: 0, displayHeight: 0 },
      { sampleAspectRatio: '0:0' },
      { sampleAspectRatio: '1:0' },
      { sampleAspectRatio: '1:100000' },
      { displayWidth: 70_000 },
      { duration: Number.NaN },
    ]) {
      assert.throws(
        () => assertUsableFacts({ ...facts, ...bad }),
        { code: 'E_CORRUPT_VIDEO', permanent: true },
        JSON.stringify(bad),
      );
    }
  });

  test('the engine says so too, before any output, and the frame service alike', async () => {
    const out = join(work, 'out-thin');
    await assert.rejects(generate({ source: { kind: 'file', path: files.thin! }, outDir: out }), {
      code: 'E_CORRUPT_VIDEO',
      permanent: true,
    });
    await assert.rejects(readdir(out));
    const frames = new FrameService({ tempDir: work });
    try {
      await assert.rejects(
        frames.frame('thin', async () => ({ kind: 'file', path: files.thin! }), {
          time: 0,
          width: 160,
          format: 'jpg',
          mode: 'fast',
        }),
        { code: 'E_CORRUPT_VIDEO' },
      );
    } finally {
      await frames.close();
    }
  });

  for (const [what, body] of [
    ['a JSON job', () => JSON.stringify({ video: 'clip\ud800.mp4' })],
    ['a JSON job (low half)', () => '{"video": "a/\\udc00b.mp4"}'],
    [
      'an Event Grid event',
      () =>
        JSON.stringify({
          eventType: 'Microsoft.Storage.BlobCreated',
          subject: `/blobServices/default/containers/${settings.videoContainer}/blobs/x\udbff.mp4`,
          data: {},
        }),
    ],
  ] as const) {
    test(`a lone surrogate in the video name of ${what} is poisoned at once as E_MESSAGE_INVALID`, async () => {
      const decision = await firstDelivery(body());
      assert.equal(decision.action, 'poison', JSON.stringify(decision));
      assert.ok(decision.action === 'poison');
      assert.equal(decision.error.code, 'E_MESSAGE_INVALID');
      assert.match(decision.error.message, /lone surrogate/);
    });
  }

  test('a name with a proper surrogate pair (an emoji) is still a name', async () => {
    const video = 'clip-\u{1F3AC}.mkv';
    await storage.blobs.uploadFile(storage.videoContainer, video, files.thin!);
    const decision = await firstDelivery(JSON.stringify({ video }));
    // It gets as far as the file, whose own verdict is the aspect ratio.
    assert.ok(decision.action === 'poison');
    assert.equal(decision.error.code, 'E_CORRUPT_VIDEO');
  });
});
