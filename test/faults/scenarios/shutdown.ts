import { join } from 'node:path';
import {
  adminStorage,
  Check,
  namesFor,
  readLog,
  startWorker,
  stopWorker,
  waitFor,
  type LogLine,
  type Rig,
  type WorkerProc,
} from '../harness.js';
import { longVideo } from '../../support/worker.js';
import { clip } from '../media.js';
import type { ScenarioOutcome } from '../run.js';
import type { Storage } from '../../../src/adapters/storage.js';
import { leftovers } from './crash.js';

const LONG = { mode: 'accurate', storyboardInterval: 0.5 } as const;
const SHORT = {
  mode: 'accurate',
  storyboardInterval: 0.5,
  outputs: ['strip', 'storyboard'],
  width: 160,
} as const;

async function running(storage: Storage, id: string, min = 0.05): Promise<void> {
  await waitFor(
    `job ${id} running`,
    async () => {
      const j = await storage.jobs.get(id);
      return j?.status === 'running' && j.progress >= min;
    },
    60_000,
    100,
  );
}

/** Lines after the SIGTERM was logged. */
function afterStop(w: WorkerProc): LogLine[] {
  const lines = readLog(w.log).filter((l) => l.pid === w.pid);
  const i = lines.findIndex((l) => typeof l.msg === 'string' && l.msg.startsWith('stopping'));
  return i < 0 ? [] : lines.slice(i + 1);
}

/** SIGTERM during jobs: finish within the grace, or release at its end; exit 0; nothing left. */
export async function shutdown(rig: Rig): Promise<ScenarioOutcome> {
  const check = new Check();
  const names = namesFor('shutdown');
  const storage = await adminStorage(rig, names);
  const [long, short] = await Promise.all([longVideo(90, '1280x720', 250), clip(16, '640x360', 50)]);
  await storage.blobs.uploadFile(names.videoContainer, 'long.mp4', long);
  await storage.blobs.uploadFile(names.videoContainer, 'short1.mp4', short);
  await storage.blobs.uploadFile(names.videoContainer, 'short2.mp4', short);

  // 1. Long grace: the job in hand finishes, the next message is not taken, exit 0.
  await storage.queue.send(JSON.stringify({ id: 'sd-short1', video: 'short1.mp4', options: SHORT }));
  await storage.queue.send(JSON.stringify({ id: 'sd-short2', video: 'short2.mp4', options: SHORT }));
  const finisher = await startWorker(rig, {
    names,
    id: 'shutdown-finish',
    env: { THUMBNAILER_SHUTDOWN_GRACE_MS: '60000' },
  });
  await running(storage, 'sd-short1', 0);
  finisher.child.kill('SIGTERM');
  const t1 = Date.now();
  const code1 = (await finisher.exit).code;
  const finishMs = Date.now() - t1;
  check.equal(code1, 0, 'finishing worker exit code');
  check.equal((await storage.jobs.get('sd-short1'))?.status, 'done', 'job in hand finished before exit');
  check.ok(!afterStop(finisher).some((l) => l.msg === 'job started'), 'no job started after SIGTERM');
  check.equal((await storage.jobs.get('sd-short2'))?.status, undefined, 'the next message was not taken');
  check.equal(await storage.queue.depth(), 1, 'one message left for others');
  check.equal((await leftovers(finisher.tempDir)).length, 0, 'finishing worker temp files');

  // 2. Short grace: a long job is canceled at the end of the grace, released at once, exit 0.
  await storage.queue.send(JSON.stringify({ id: 'sd-long', video: 'long.mp4', options: LONG }));
  const releaser = await startWorker(rig, {
    names,
    id: 'shutdown-release',
    env: { THUMBNAILER_SHUTDOWN_GRACE_MS: '1500', THUMBNAILER_VISIBILITY_TIMEOUT: '120' },
  });
  await running(storage, 'sd-long');
  releaser.child.kill('SIGTERM');
  const t2 = Date.now();
  const code2 = (await releaser.exit).code;
  const releaseMs = Date.now() - t2;
  check.equal(code2, 0, 'releasing worker exit code');
  check.ok(releaseMs < 1500 + 5000, `exited within the grace plus 5 s (${releaseMs} ms)`);
  const released = afterStop(releaser).some((l) => l.msg === 'job released for another worker');
  check.ok(released, 'the job was released');
  check.ok(!afterStop(releaser).some((l) => l.msg === 'job started'), 'no job started after SIGTERM');
  check.equal((await leftovers(releaser.tempDir)).length, 0, 'releasing worker temp files');
  // Released means visible again now, not after the 120 s visibility timeout: another worker takes it.
  const other = await startWorker(rig, { names, id: 'shutdown-other', concurrency: 2, sas: true });
  const t3 = Date.now();
  await running(storage, 'sd-long', 0);
  const pickupMs = Date.now() - t3;
  await waitFor(
    'both remaining jobs done',
    async () =>
      (await storage.jobs.get('sd-long'))?.status === 'done' &&
      (await storage.jobs.get('sd-short2'))?.status === 'done',
    90_000,
  );
  const longJob = await storage.jobs.get('sd-long');
  // A release is not a delivery (docs/architecture.md): the copy that comes back is delivery 1.
  check.equal(longJob?.attempts, 1, 'released job completed without a counted delivery');
  check.equal(await stopWorker(other), 0, 'other worker exit code');
  check.equal(await storage.queue.depth(), 0, 'queue depth');
  check.equal(await storage.poison.depth(), 0, 'poisoned');
  check.ok(
    readLog(join(rig.root, 'logs', 'shutdown-other.log')).some(
      (l) => l.msg === 'job done' && l.jobId === 'sd-long',
    ),
    'the released job was completed by another worker',
  );
  return {
    check,
    figures: `grace 60 s: job finished, exit 0 after ${(finishMs / 1000).toFixed(1)} s, next message untouched; grace 1.5 s: released, exit 0 after ${(releaseMs / 1000).toFixed(1)} s, taken by another worker ${(pickupMs / 1000).toFixed(1)} s later (visibility 120 s) and completed (the release not counted as a delivery); temp files 0`,
  };
}
