import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Storage } from '../src/adapters/storage.js';
import { generate } from '../src/engine/generate.js';
import type { GenerateRequest, Manifest } from '../src/engine/types.js';
import { ThumbnailerError } from '../src/errors.js';
import { submitJob } from '../src/jobs/submit.js';
import { startAzurite, type TestAzurite } from './support/azurite.js';
import { media } from './support/media.js';
import { startTestWorker, waitFor } from './support/worker.js';

/** Job records of issue 12: a job id names one job, every record ends, waiting is not a delivery. */

let azurite: TestAzurite;

before(async () => {
  azurite = await startAzurite();
});

after(async () => {
  await azurite?.stop();
});

/** A gate the engine waits at, so a job stays running while the test sends more. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { open, opened };
}

/** A harness whose engine waits for `g.open()` before each job: a job held in progress. */
async function gatedHarness() {
  const g = gate();
  const h = await harness(async (req) => {
    await g.opened;
    return generate(req);
  });
  return { g, h };
}

async function harness(engine?: (req: GenerateRequest) => Promise<Manifest>, start = true) {
  const w = await startTestWorker(azurite, {
    engine,
    start: false,
    settings: { worker: { concurrency: 2, visibilityTimeoutSeconds: 10 } },
  });
  if (start) w.worker.start();
  await w.storage.blobs.uploadFile(w.storage.videoContainer, 'v.mp4', await media('cityA'), {
    contentType: 'video/mp4',
  });
  return { storage: w.storage, worker: w.worker, calls: w.generateCalls, close: () => w.close() };
}

const poisonCount = async (storage: Storage) => (await storage.poison.peek(32)).length;

describe('a job id names one job', () => {
  test('reusing an id for another video is E_JOB_CONFLICT (409); resending the same job queues nothing twice', async () => {
    const h = await harness(undefined, false);
    try {
      const { storage } = h;
      await storage.blobs.uploadFile(storage.videoContainer, 'other.mp4', await media('cityA'));
      const first = await submitJob(storage, { id: 'named', video: 'v.mp4', options: { rows: 2 } });
      assert.equal(first.status, 'queued');
      await assert.rejects(submitJob(storage, { id: 'named', video: 'other.mp4' }), (e: unknown) => {
        assert.ok(ThumbnailerError.is(e));
        assert.equal(e.code, 'E_JOB_CONFLICT');
        assert.equal(e.status, 409);
        assert.equal(e.field, 'id');
        return true;
      });
      await assert.rejects(submitJob(storage, { id: 'named', video: 'v.mp4', options: { rows: 3 } }), {
        code: 'E_JOB_CONFLICT',
      });
      const again = await submitJob(storage, { id: 'named', video: 'v.mp4', options: { rows: 2 } });
      assert.equal(again.id, 'named');
      assert.equal((await storage.jobs.get('named'))?.video, 'v.mp4', 'the record still names its video');
      assert.equal((await storage.queue.peek(32)).length, 1, 'one message for one job');
    } finally {
      await h.close();
    }
  });
});

describe('every record ends', () => {
  test('a duplicate joins the run in progress, is recorded as such and ends with its outputs', async () => {
    const { g, h } = await gatedHarness();
    try {
      const { storage } = h;
      const job = (id: string) => JSON.stringify({ id, video: 'v.mp4', options: { outputs: ['strip'] } });
      await storage.queue.send(job('first'));
      await waitFor('first running', () => h.calls.length === 1, 60_000, 50);
      await storage.queue.send(job('second'));
      const waiting = await waitFor(
        'the duplicate recorded',
        async () => {
          const r = await storage.jobs.get('second');
          return r?.duplicateOf === 'first' && r;
        },
        60_000,
        50,
      );
      assert.equal(waiting.status, 'queued');
      g.open();
      const done = await waitFor(
        'the duplicate done',
        async () => {
          const r = await storage.jobs.get('second');
          return r?.status === 'done' && r;
        },
        180_000,
        200,
      );
      const first = await storage.jobs.get('first');
      assert.equal(first?.status, 'done');
      assert.equal(done.duplicateOf, 'first');
      assert.deepEqual(done.outputs, first?.outputs, 'the outputs of the run it joined');
      assert.equal(h.calls.length, 1, 'one encode for both jobs');
      assert.equal(await poisonCount(storage), 0);
    } finally {
      await h.close();
    }
  });

  test('a busy video waits (message visibility, not deliveries) instead of burning retries', async () => {
    const { g, h } = await gatedHarness();
    try {
      const { storage } = h;
      const deferred: string[] = [];
      h.worker.on('deferred', (e) => deferred.push(e.reason));
      await storage.queue.send(
        JSON.stringify({ id: 'a', video: 'v.mp4', options: { outputs: ['strip'], rows: 2 } }),
      );
      await waitFor('a running', () => h.calls.length === 1, 60_000, 50);
      await storage.queue.send(
        JSON.stringify({ id: 'b', video: 'v.mp4', options: { outputs: ['strip'], rows: 3 } }),
      );
      // With retries at 0 ms (the test settings), six busy deliveries would have poisoned it.
      await waitFor('b waited several times', () => deferred.length >= 6, 60_000, 50);
      assert.ok(deferred.every((r) => r === 'video-busy'));
      const waiting = await storage.jobs.get('b');
      assert.equal(waiting?.status, 'queued');
      assert.equal(waiting?.error?.code, 'E_VIDEO_BUSY');
      assert.equal(await poisonCount(storage), 0);
      g.open();
      await waitFor('b done', async () => (await storage.jobs.get('b'))?.status === 'done', 180_000, 200);
      assert.equal((await storage.jobs.get('b'))?.attempts, 1, 'waiting never counted as a delivery');
      assert.equal(await poisonCount(storage), 0);
    } finally {
      await h.close();
    }
  });
});

describe('a record holds every output', () => {
  test('a job of hundreds of outputs on a video with a 900-character name ends done, with every output URL', async () => {
    const w = await startTestWorker(azurite);
    try {
      // A Table property holds 32 K characters: hundreds of URLs that each repeat a long name
      // would not fit in one.
      const video = `${'long-folder-name/'.repeat(52)}clock.mp4`;
      assert.ok(video.length > 880 && video.length < 1024, String(video.length));
      await w.storage.blobs.uploadFile(w.storage.videoContainer, video, await media('clock40'), {
        contentType: 'video/mp4',
      });
      const options = {
        outputs: ['poster', 'storyboard'],
        storyboardInterval: 0.5,
        storyboardGrid: 1,
        storyboardWidths: [64, 96, 128, 160],
        storyboardTracks: ['vtt', 'hls', 'dash'],
      };
      const job = await submitJob(w.storage, { id: 'many-outputs', video, options });
      const done = await waitFor(
        'the job to end',
        async () => {
          const record = await w.storage.jobs.get(job.id);
          return record && (record.status === 'done' || record.status === 'failed') ? record : undefined;
        },
        240_000,
      );
      assert.equal(done.status, 'done', JSON.stringify(done.error));
      const manifest = JSON.parse(
        (await w.storage.blobs.readText(w.storage.thumbnailContainer, `${video}/manifest.json`))!,
      ) as Manifest;
      assert.ok(manifest.outputs.length > 300, `${manifest.outputs.length} outputs`);
      const urls = done.outputs!;
      for (const o of [...manifest.outputs.map((o) => o.file), 'manifest.json']) {
        assert.equal(urls[o], w.storage.blobs.url(w.storage.thumbnailContainer, `${video}/${o}`), o);
      }
      assert.equal(Object.keys(urls).length, manifest.outputs.length + 1);
      // The list the API pages through reads the same record.
      const listed = (await w.storage.jobs.page({ limit: 100 })).jobs.find((j) => j.id === job.id);
      assert.deepEqual(listed?.outputs, urls);
    } finally {
      await w.close();
    }
  });
});
