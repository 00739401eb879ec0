import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { join } from 'node:path';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import type { Storage } from '../src/adapters/storage.js';
import { createStorage } from '../src/adapters/storage.js';
import type { Manifest, GenerateRequest } from '../src/engine/types.js';
import { generate } from '../src/engine/generate.js';
import { ThumbnailerError } from '../src/errors.js';
import { startAzurite, type TestAzurite } from './support/azurite.js';
import { media, type MediaName } from './support/media.js';
import { memoryLogger, startTestWorker, testSettings, waitFor, type TestWorker } from './support/worker.js';

let azurite: TestAzurite;
let tempRoot: string;

before(async () => {
  azurite = await startAzurite();
  tempRoot = await mkdtemp(join(tmpdir(), 'thumbnailer-worker-test-'));
});

after(async () => {
  await azurite?.stop();
  if (tempRoot) await rm(tempRoot, { recursive: true, force: true });
});

/** A worker on its own queue and containers, so tests in this file never see each other's work. */
function harness(
  options: {
    concurrency?: number;
    visibilityTimeoutSeconds?: number;
    engine?: (req: GenerateRequest) => Promise<Manifest>;
    start?: boolean;
  } = {},
): Promise<TestWorker> {
  const { concurrency = 2, visibilityTimeoutSeconds = 10, ...rest } = options;
  return startTestWorker(azurite, {
    ...rest,
    settings: { worker: { concurrency, visibilityTimeoutSeconds } },
  });
}

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

async function uploadFixture(storage: Storage, name: string, fixture: MediaName = 'cityA'): Promise<string> {
  await storage.blobs.uploadFile(storage.videoContainer, name, await media(fixture), {
    contentType: 'video/mp4',
  });
  return storage.blobs.url(storage.videoContainer, name);
}

async function manifestOf(storage: Storage, video: string): Promise<Manifest | undefined> {
  const text = await storage.blobs.readText(storage.thumbnailContainer, `${video}/manifest.json`);
  return text ? (JSON.parse(text) as Manifest) : undefined;
}

async function poisonMessages(
  storage: Storage,
): Promise<Array<{ error: { code: string; message: string }; message: string }>> {
  const bodies = await storage.poison.peek(32);
  return bodies.map((b) => JSON.parse(Buffer.from(b, 'base64').toString('utf8')));
}

const JPEG = Buffer.from([0xff, 0xd8, 0xff]);

describe('worker against Azurite and ffmpeg', () => {
  test('every message form, base64 or plain, produces outputs in Blob storage', async () => {
    const h = await harness({ concurrency: 2 });
    try {
      const { storage } = h;
      const names = ['forms/name.mp4', 'forms/name-b64.mp4', 'forms/url.mp4', 'forms/url b64.mp4'];
      const more = ['forms/json.mp4', 'forms/json-b64.mp4', 'forms/eventgrid.mp4', 'forms/cloudevent.mp4'];
      const urls: Record<string, string> = {};
      for (const name of [...names, ...more]) urls[name] = await uploadFixture(storage, name);
      const eventGrid = (url: string, topicAccount = 'devstoreaccount1') => ({
        id: 'evt-1',
        topic: `/subscriptions/0000/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/${topicAccount}`,
        subject: '/blobServices/default/containers/x/blobs/y',
        eventType: 'Microsoft.Storage.BlobCreated',
        eventTime: new Date().toISOString(),
        dataVersion: '',
        metadataVersion: '1',
        data: { api: 'PutBlob', url, contentType: 'video/mp4', blobType: 'BlockBlob' },
      });
      const cloudEvent = (url: string) => ({
        specversion: '1.0',
        id: 'ce-1',
        type: 'Microsoft.Storage.BlobCreated',
        source:
          '/subscriptions/0000/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/devstoreaccount1',
        subject: '/blobServices/default/containers/x/blobs/y',
        time: new Date().toISOString(),
        data: { api: 'PutBlockList', url },
      });
      const send = (text: string) => storage.queue.send(text, { base64: false });
      await send('forms/name.mp4');
      await send(b64('forms/name-b64.mp4'));
      await send(urls['forms/url.mp4']!);
      await send(b64(urls['forms/url b64.mp4']!));
      await send(
        JSON.stringify({
          id: 'job-json',
          video: 'forms/json.mp4',
          options: { outputs: ['strip'], rows: 2, cols: 3 },
        }),
      );
      await send(b64(JSON.stringify({ video: urls['forms/json-b64.mp4'], options: { layout: 'seed' } })));
      await send(b64(JSON.stringify(eventGrid(urls['forms/eventgrid.mp4']!))));
      await send(JSON.stringify(cloudEvent(urls['forms/cloudevent.mp4']!)));
      // An event for a blob the service wrote itself: acknowledged and ignored, never a loop.
      const ownOutput = storage.blobs.url(storage.thumbnailContainer, 'forms/name.mp4/strip.jpg');
      await send(JSON.stringify(eventGrid(ownOutput)));

      const all = [...names, ...more];
      await waitFor(
        'all manifests',
        async () => {
          const found = await Promise.all(all.map((v) => manifestOf(storage, v)));
          return found.every(Boolean) && found;
        },
        120_000,
      );

      for (const video of all) {
        const manifest = (await manifestOf(storage, video))!;
        assert.equal(manifest.input.name, video);
        assert.ok(manifest.input.etag, 'manifest records the source ETag');
        const files = manifest.outputs.map((o) => o.file);
        if (video === 'forms/json.mp4') {
          assert.deepEqual(files, ['strip.jpg']);
          assert.equal(manifest.options.rows, 2);
        } else {
          for (const f of [
            'strip.jpg',
            'poster.jpg',
            'storyboard.jpg',
            'storyboard.vtt',
            'storyboard.json',
          ]) {
            assert.ok(files.includes(f), `${video} has ${f}`);
          }
        }
        for (const o of manifest.outputs) {
          const props = await storage.blobs.getProperties(storage.thumbnailContainer, `${video}/${o.file}`);
          assert.equal(props.size, o.bytes, `${video}/${o.file} uploaded whole`);
          assert.equal(props.contentType, o.contentType);
        }
        const strip = await storage.blobs
          .container(storage.thumbnailContainer)
          .getBlobClient(`${video}/strip.jpg`)
          .downloadToBuffer();
        assert.deepEqual(strip.subarray(0, 3), JPEG);
      }
      // layout: seed also writes <video>_keyframes.jpg at the container root.
      const seed = await storage.blobs.getProperties(
        storage.thumbnailContainer,
        'forms/json-b64.mp4_keyframes.jpg',
      );
      assert.ok(seed.size > 0);
      const job = await storage.jobs.get('job-json');
      assert.equal(job?.status, 'done');
      assert.equal(job?.progress, 1);
      assert.ok(job?.outputs?.['strip.jpg']?.endsWith('/forms/json.mp4/strip.jpg'));

      await waitFor('queue drained', async () => (await storage.queue.depth()) === 0, 20_000);
      assert.deepEqual(await poisonMessages(storage), []);
      assert.equal(h.generateCalls.length, all.length, 'one encode per video, none for the ignored event');
    } finally {
      await h.close();
    }
  });

  test('garbage, a foreign URL, a bad name and a missing blob are poisoned with a reason; the worker carries on', async () => {
    const h = await harness({ concurrency: 1 });
    try {
      const { storage } = h;
      await uploadFixture(storage, 'good.mp4');
      await storage.queue.send('{"this is": not json', { base64: false });
      await storage.queue.send('https://evil.blob.core.windows.net/videos/good.mp4', { base64: false });
      await storage.queue.send('../../etc/passwd');
      await storage.queue.send('missing/nothing-here.mp4');
      await storage.queue.send(JSON.stringify({ video: 'good.mp4', options: { rows: 999 } }));
      await storage.queue.send('good.mp4');

      await waitFor('good outputs', () => manifestOf(storage, 'good.mp4'), 60_000);
      const poisoned = await waitFor(
        'five poison messages',
        async () => {
          const p = await poisonMessages(storage);
          return p.length === 5 && p;
        },
        30_000,
      );
      const byCode = poisoned.map((p) => p.error.code).sort();
      assert.deepEqual(byCode, [
        'E_BLOB_NOT_FOUND',
        'E_MESSAGE_INVALID',
        'E_MESSAGE_INVALID',
        'E_OPTION_INVALID',
        'E_URL_REFUSED',
      ]);
      const foreign = poisoned.find((p) => p.error.code === 'E_URL_REFUSED')!;
      assert.match(foreign.error.message, /not in the configured storage account/);
      assert.equal(
        foreign.message,
        'https://evil.blob.core.windows.net/videos/good.mp4',
        'poison keeps the original',
      );
      const options = poisoned.find((p) => p.error.code === 'E_OPTION_INVALID')!;
      assert.match(options.error.message, /rows/);
      const missing = poisoned.find((p) => p.error.code === 'E_BLOB_NOT_FOUND')!;
      assert.match(missing.error.message, /nothing-here\.mp4 does not exist/);
      // Permanent failures are not retried: each went to the poison queue on its first delivery.
      for (const p of poisoned) assert.equal((p as unknown as { dequeueCount: number }).dequeueCount, 1);
      assert.equal(h.generateCalls.length, 1);
      await waitFor('queue drained', async () => (await storage.queue.depth()) === 0, 10_000);
    } finally {
      await h.close();
    }
  });

  test('a duplicate message does no second encode, at once or later', async () => {
    const h = await harness({ concurrency: 2 });
    try {
      const { storage } = h;
      await uploadFixture(storage, 'dup.mp4');
      const completed: string[] = [];
      h.worker.on('completed', (e) =>
        completed.push(e.outcome.kind === 'skipped' ? `skipped:${e.outcome.reason}` : e.outcome.kind),
      );
      // Two copies delivered together: one encodes, the other sees the claim (or the manifest).
      await storage.queue.send('dup.mp4');
      await storage.queue.send('dup.mp4');
      await waitFor('two completions', () => completed.length === 2, 60_000);
      // And once more after it is done: acknowledged without work (same ETag and options).
      await storage.queue.send(JSON.stringify({ id: 'again', video: 'dup.mp4' }));
      await waitFor('third completion', () => completed.length === 3, 30_000);
      assert.equal(h.generateCalls.length, 1, 'one encode in all');
      assert.equal(completed.filter((c) => c === 'done').length, 1);
      assert.equal(completed[2], 'skipped:already-done');
      const again = await storage.jobs.get('again');
      assert.equal(again?.status, 'done');
      assert.equal(again?.skipped, true);
      assert.ok(again?.outputs?.['poster.jpg']);

      // Different options are different work: encoded again, stale outputs removed, manifest last.
      await storage.queue.send(JSON.stringify({ video: 'dup.mp4', options: { outputs: ['poster'] } }));
      await waitFor('fourth completion', () => completed.length === 4, 60_000);
      assert.equal(h.generateCalls.length, 2);
      const names = (await storage.blobs.list(storage.thumbnailContainer, 'dup.mp4/'))
        .map((b) => b.name)
        .sort();
      assert.deepEqual(names, ['dup.mp4/manifest.json', 'dup.mp4/poster.jpg']);

      // A new version of the video (new ETag) is encoded again.
      await uploadFixture(storage, 'dup.mp4', 'cityB');
      await storage.queue.send(JSON.stringify({ video: 'dup.mp4', options: { outputs: ['poster'] } }));
      await waitFor('fifth completion', () => completed.length === 5, 60_000);
      assert.equal(h.generateCalls.length, 3);
    } finally {
      await h.close();
    }
  });

  test('transient failures are retried with backoff, then poisoned after 5 deliveries with the last error', async () => {
    let calls = 0;
    const h = await harness({
      concurrency: 1,
      engine: async () => {
        calls++;
        throw new ThumbnailerError('E_FFMPEG_FAILED', `ffmpeg crashed (try ${calls})`);
      },
    });
    try {
      const { storage } = h;
      await uploadFixture(storage, 'flaky.mp4');
      const failures: number[] = [];
      h.worker.on('failed', (e) => failures.push(e.attempt));
      await storage.queue.send(JSON.stringify({ id: 'flaky-job', video: 'flaky.mp4' }));
      const poisoned = await waitFor(
        'poison',
        async () => {
          const p = await poisonMessages(storage);
          return p.length === 1 && p[0]!;
        },
        60_000,
      );
      assert.equal(calls, 5);
      assert.deepEqual(failures, [1, 2, 3, 4]);
      assert.equal(poisoned.error.code, 'E_FFMPEG_FAILED');
      assert.match(poisoned.error.message, /try 5/, 'the last error');
      const job = await storage.jobs.get('flaky-job');
      assert.equal(job?.status, 'failed');
      assert.equal(job?.attempts, 5);
      assert.equal(job?.error?.code, 'E_FFMPEG_FAILED');
      await waitFor('queue drained', async () => (await storage.queue.depth()) === 0, 10_000);
    } finally {
      await h.close();
    }
  });

  test('a transient failure followed by success completes the job on the second delivery', async () => {
    let calls = 0;
    const h = await harness({
      concurrency: 1,
      engine: async (req) => {
        if (++calls === 1) throw new ThumbnailerError('E_STORAGE_UNAVAILABLE', 'storage blip');
        return generate(req);
      },
    });
    try {
      const { storage } = h;
      await uploadFixture(storage, 'blip.mp4');
      await storage.queue.send(
        JSON.stringify({ id: 'blip-job', video: 'blip.mp4', options: { outputs: ['strip'] } }),
      );
      await waitFor('done', async () => (await storage.jobs.get('blip-job'))?.status === 'done', 60_000);
      const job = await storage.jobs.get('blip-job');
      assert.equal(job?.attempts, 2);
      assert.equal(job?.error, undefined);
      assert.deepEqual(await poisonMessages(storage), []);
    } finally {
      await h.close();
    }
  });

  test('a file that is not a video is poisoned after one attempt', async () => {
    const h = await harness({ concurrency: 1 });
    try {
      const { storage } = h;
      await storage.blobs.uploadText(
        storage.videoContainer,
        'notes.mp4',
        'just some text, not a video\n'.repeat(50),
      );
      await storage.queue.send(JSON.stringify({ id: 'text-job', video: 'notes.mp4' }));
      const p = await waitFor(
        'poison',
        async () => {
          const list = await poisonMessages(storage);
          return list.length === 1 && list[0]!;
        },
        30_000,
      );
      assert.ok(
        ['E_NOT_A_VIDEO', 'E_CORRUPT_VIDEO', 'E_FORMAT_REFUSED'].includes(p.error.code),
        p.error.code,
      );
      assert.equal((p as unknown as { dequeueCount: number }).dequeueCount, 1);
      assert.equal((await storage.jobs.get('text-job'))?.status, 'failed');
      assert.deepEqual(await readdir(h.tempDir), [], 'no temporary files left');
    } finally {
      await h.close();
    }
  });

  test('a live worker keeps its message invisible past the visibility timeout', async () => {
    // Visibility 2 s, a job of ~7 s: without renewal a second worker would take the message.
    const h = await harness({
      concurrency: 1,
      visibilityTimeoutSeconds: 2,
      engine: async (req) => {
        await new Promise((r) => setTimeout(r, 7000));
        return generate(req);
      },
    });
    const rival = await harness({ concurrency: 1, start: false });
    try {
      const { storage } = h;
      await uploadFixture(storage, 'slow.mp4');
      await storage.queue.send('slow.mp4');
      await waitFor('started', () => h.generateCalls.length === 1, 20_000);
      // Poll the same queue as a rival would.
      let stolen = 0;
      const deadline = Date.now() + 6000;
      while (Date.now() < deadline) {
        stolen += (await storage.queue.receive(1, 1)).length;
        await new Promise((r) => setTimeout(r, 250));
      }
      assert.equal(stolen, 0, 'the message never reappeared while its worker lived');
      await waitFor('done', () => manifestOf(storage, 'slow.mp4'), 30_000);
      await waitFor('deleted', async () => (await storage.queue.depth()) === 0, 10_000);
      assert.equal(h.generateCalls.length, 1);
    } finally {
      await h.close();
      await rival.close();
    }
  });

  test('close() releases a running job at once when the grace runs out, and leaves no temp files', async () => {
    const h = await harness({
      concurrency: 1,
      visibilityTimeoutSeconds: 30,
      engine: (req) =>
        new Promise((_, reject) => {
          // An engine that only ends when canceled, as a long ffmpeg run would.
          req.signal?.addEventListener('abort', () => reject(new ThumbnailerError('E_CANCELED', 'canceled')));
        }),
    });
    try {
      const { storage } = h;
      await uploadFixture(storage, 'long.mp4');
      await storage.queue.send(JSON.stringify({ id: 'long-job', video: 'long.mp4' }));
      await waitFor(
        'running',
        async () => (await storage.jobs.get('long-job'))?.status === 'running',
        20_000,
      );
      const released: string[] = [];
      h.worker.on('released', (e) => released.push(e.messageId));
      const t0 = Date.now();
      await Promise.all([h.worker.close(300), h.worker.close(5000)]); // memoised: one shutdown
      assert.ok(Date.now() - t0 < 5000, 'the grace of the first call applies');
      assert.equal(released.length, 1);
      // Visible again at once, not after the 30 s visibility timeout.
      const again = await storage.queue.receive(1, 5);
      assert.equal(again.length, 1);
      // A release on shutdown comes back as a fresh copy: it does not count toward the poison limit.
      assert.equal(again[0]!.dequeueCount, 1);
      assert.equal((await storage.jobs.get('long-job'))?.status, 'queued');
      assert.deepEqual(await readdir(h.tempDir), []);
    } finally {
      await h.close();
    }
  });
});

describe('storage outage', () => {
  test('a worker whose storage is down backs off, then resumes when it returns', async () => {
    // An emulator of its own: it starts only after the worker, on ports chosen before, to make the outage.
    const { freePort, startEmulator } = await import('../src/adapters/emulator.js');
    const ports = { blob: await freePort(), queue: await freePort(), table: await freePort() };
    const { devConnectionString } = await import('../src/config.js');
    const settings = testSettings(devConnectionString(ports), {
      worker: { concurrency: 1, tempDir: tempRoot },
    });
    const { logger } = memoryLogger();
    const storage = await createStorage(settings);
    const { Worker } = await import('../src/hosts/worker/worker.js');
    const { jobDepsFrom } = await import('../src/jobs/deps.js');
    const worker = new Worker({
      queue: storage.queue,
      poison: storage.poison,
      job: jobDepsFrom(settings, storage, logger, generate),
      concurrency: 1,
      visibilityTimeoutSeconds: 10,
      pollIntervalMs: 100,
      shutdownGraceMs: 1000,
      jobTimeoutMs: 60_000,
      maxBackoffMs: 1000,
    });
    const states: boolean[] = [];
    const errors: unknown[] = [];
    // The outage comes once, with the failure that showed it; polls while it lasts stay quiet.
    worker.on('storageDown', (down, error) => {
      states.push(down);
      if (down) errors.push(error);
    });
    worker.on('error', (e) => errors.push(e));
    worker.start();
    let emulator: Awaited<ReturnType<typeof startEmulator>> | undefined;
    try {
      await waitFor('storage reported down', () => states[0] === true, 30_000);
      assert.ok(errors.length >= 1);
      assert.ok(
        ThumbnailerError.is(errors[0]) && (errors[0] as ThumbnailerError).code === 'E_STORAGE_UNAVAILABLE',
      );
      emulator = await startEmulator({ ports, inMemory: true });
      await storage.ensure();
      await uploadFixture(storage, 'after-outage.mp4');
      await storage.queue.send(
        JSON.stringify({ video: 'after-outage.mp4', options: { outputs: ['poster'] } }),
      );
      await waitFor('outputs after the outage', () => manifestOf(storage, 'after-outage.mp4'), 60_000);
      assert.deepEqual(states.slice(0, 2), [true, false]);
    } finally {
      await worker.close(1000);
      await emulator?.stop();
    }
  });
});
