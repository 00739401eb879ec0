import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { freePort } from '../src/adapters/emulator.js';
import { createStorage, type Storage } from '../src/adapters/storage.js';
import { JOBS_TABLE } from '../src/config.js';
import { generate } from '../src/engine/generate.js';
import type { Manifest } from '../src/engine/types.js';
import { startAzurite, type TestAzurite } from './support/azurite.js';
import {
  longVideo,
  spawnWorker,
  testSettings,
  waitFor,
  workerEnv,
  type WorkerProcess,
} from './support/worker.js';

/**
 * Real `thumbnailer worker` processes killed or stopped mid-job. The job is a 60 s 720p video
 * with a keyframe every 10 s, in accurate mode with a storyboard tile every 0.5 s: seconds of
 * ffmpeg work, long enough to be interrupted.
 */

let azurite: TestAzurite;
let root: string;
let video: string;
const workers = new Set<WorkerProcess>();
const JOB_OPTIONS = { mode: 'accurate', storyboardInterval: 0.5 } as const;

before(async () => {
  [azurite, video] = await Promise.all([startAzurite(), longVideo(60, '1280x720', 250)]);
  root = await mkdtemp(join(tmpdir(), 'thumbnailer-process-test-'));
});

after(async () => {
  for (const w of workers) if (w.alive) w.child.kill('SIGKILL');
  await azurite?.stop();
  if (root) await rm(root, { recursive: true, force: true });
});

interface Setup {
  storage: Storage;
  env: NodeJS.ProcessEnv;
  tempDir(name: string): Promise<string>;
}

async function setup(): Promise<Setup> {
  // A worker process keeps its jobs in the product's job table (a name no setting changes).
  const { jobsTable: _theirs, ...names } = azurite.names('p');
  const storage = await createStorage(
    testSettings(azurite.connectionString, { ...names, jobsTable: JOBS_TABLE }),
  );
  await storage.ensure();
  return {
    storage,
    env: workerEnv(azurite.connectionString, names),
    tempDir: (name) => mkdtemp(join(root, `${name}-`)),
  };
}

function startWorker(env: NodeJS.ProcessEnv, extra: NodeJS.ProcessEnv): WorkerProcess {
  const worker = spawnWorker({ env: { ...env, ...extra } });
  workers.add(worker);
  return worker;
}

async function queueJob(storage: Storage, id: string): Promise<void> {
  await storage.blobs.uploadFile(storage.videoContainer, 'long.mp4', video, { contentType: 'video/mp4' });
  await storage.queue.send(JSON.stringify({ id, video: 'long.mp4', options: JOB_OPTIONS }));
}

async function waitRunning(storage: Storage, id: string, minProgress: number): Promise<void> {
  await waitFor(
    `job ${id} running`,
    async () => {
      const job = await storage.jobs.get(id);
      return job?.status === 'running' && job.progress >= minProgress;
    },
    60_000,
    50,
  );
}

async function manifestOf(storage: Storage): Promise<Manifest | undefined> {
  const text = await storage.blobs.readText(storage.thumbnailContainer, 'long.mp4/manifest.json');
  return text ? (JSON.parse(text) as Manifest) : undefined;
}

describe('worker processes', () => {
  test('a worker serves /healthz, /readyz and /metrics for its probes, and stops on SIGTERM', async () => {
    const { env } = await setup();
    const port = await freePort();
    const worker = startWorker(env, { THUMBNAILER_PORT: String(port) });
    const base = `http://127.0.0.1:${port}`;
    await waitFor(
      'health server',
      async () => (await fetch(`${base}/healthz`).catch(() => undefined))?.ok,
      30_000,
      100,
    );
    const ready = (await (await fetch(`${base}/readyz`)).json()) as { status: string };
    assert.equal(ready.status, 'ready');
    assert.match(await (await fetch(`${base}/metrics`)).text(), /thumbnailer_jobs_total/);
    worker.child.kill('SIGTERM');
    assert.deepEqual(await worker.exit, { code: 0, signal: null });
  });

  test('a worker killed with SIGKILL mid-job has its job completed by another worker, with identical outputs', async () => {
    const { storage, env, tempDir } = await setup();
    await queueJob(storage, 'crash-job');
    const first = startWorker(env, {
      THUMBNAILER_VISIBILITY_TIMEOUT: '3',
      THUMBNAILER_TEMP_DIR: await tempDir('a'),
    });
    await waitRunning(storage, 'crash-job', 0.05);
    first.child.kill('SIGKILL');
    await first.exit;
    assert.equal(await manifestOf(storage), undefined, 'killed before committing');

    const killedAt = Date.now();
    const secondTemp = await tempDir('b');
    const second = startWorker(env, {
      THUMBNAILER_VISIBILITY_TIMEOUT: '3',
      THUMBNAILER_TEMP_DIR: secondTemp,
    });
    const reference = join(root, 'reference');
    const [manifest] = await Promise.all([
      waitFor('outputs from the second worker', () => manifestOf(storage), 120_000, 200),
      // The same job run directly, to compare bytes with.
      generate({ source: { kind: 'file', path: video }, outDir: reference, options: JOB_OPTIONS }),
    ]);
    assert.ok(Date.now() - killedAt < 120_000);
    const job = await waitFor('job done', async () => {
      const j = await storage.jobs.get('crash-job');
      return j?.status === 'done' && j;
    });
    assert.equal(job.attempts, 2, 'completed on the second delivery');

    for (const output of manifest.outputs) {
      const stored = await storage.blobs
        .container(storage.thumbnailContainer)
        .getBlobClient(`long.mp4/${output.file}`)
        .downloadToBuffer();
      const local = await readFile(join(reference, output.file));
      assert.ok(stored.equals(local), `${output.file} is identical to a direct run`);
    }
    second.child.kill('SIGTERM');
    assert.equal((await second.exit).code, 0);
    assert.deepEqual(await readdir(secondTemp), [], 'no temporary files left');
    assert.equal(await storage.queue.depth(), 0);
  });

  test('SIGTERM with a short grace releases the job at once and leaves no temporary files', async () => {
    const { storage, env, tempDir } = await setup();
    await queueJob(storage, 'term-release');
    const temp = await tempDir('a');
    const worker = startWorker(env, {
      THUMBNAILER_VISIBILITY_TIMEOUT: '60',
      THUMBNAILER_SHUTDOWN_GRACE_MS: '200',
      THUMBNAILER_TEMP_DIR: temp,
    });
    await waitRunning(storage, 'term-release', 0.05);
    const t0 = Date.now();
    worker.child.kill('SIGTERM');
    const exit = await worker.exit;
    assert.equal(exit.code, 0, worker.output());
    assert.ok(Date.now() - t0 < 10_000, 'stopped promptly');
    assert.deepEqual(await readdir(temp), [], 'no temporary files left');
    // Released: visible again now, not after the 60 s visibility timeout.
    const [message] = await storage.queue.receive(1, 5);
    assert.ok(message, 'the message is visible again');
    // A release is a fresh copy of the message (docs/architecture.md): it does not count as a delivery.
    assert.equal(message.dequeueCount, 1);
    const job = await storage.jobs.get('term-release');
    assert.equal(job?.status, 'queued');
    assert.equal(job?.error?.code, 'E_CANCELED');
    assert.equal(await manifestOf(storage), undefined);
    assert.match(worker.output(), /"msg":"job released for another worker"/);
  });

  test('SIGTERM with a long grace finishes the job in hand, then exits', async () => {
    const { storage, env, tempDir } = await setup();
    await queueJob(storage, 'term-finish');
    const temp = await tempDir('a');
    const worker = startWorker(env, {
      THUMBNAILER_VISIBILITY_TIMEOUT: '20',
      THUMBNAILER_SHUTDOWN_GRACE_MS: '120000',
      THUMBNAILER_TEMP_DIR: temp,
    });
    await waitRunning(storage, 'term-finish', 0.05);
    worker.child.kill('SIGTERM');
    const exit = await worker.exit;
    assert.equal(exit.code, 0, worker.output());
    assert.ok(await manifestOf(storage), 'the job finished before exit');
    assert.equal((await storage.jobs.get('term-finish'))?.status, 'done');
    assert.equal(await storage.queue.depth(), 0, 'its message was deleted');
    assert.deepEqual(await readdir(temp), []);
  });
});
