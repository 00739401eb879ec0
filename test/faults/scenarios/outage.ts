import {
  adminStorage,
  Check,
  namesFor,
  readLog,
  sleep,
  startWorker,
  stopWorker,
  waitFor,
  type Rig,
} from '../harness.js';
import { clip } from '../media.js';
import type { ScenarioOutcome } from '../run.js';
import { leftovers } from './crash.js';

const OPTIONS = {
  mode: 'accurate',
  storyboardInterval: 0.5,
  outputs: ['strip', 'storyboard'],
  width: 160,
} as const;

/**
 * Storage outage: the TCP proxy in front of blob, queue and table is cut mid-batch (listeners
 * closed, sockets destroyed) and restored. Workers live on, log the outage once, finish the batch.
 */
export async function outage(rig: Rig): Promise<ScenarioOutcome> {
  const check = new Check();
  const names = namesFor('outage');
  const storage = await adminStorage(rig, names);
  const video = await clip(16, '640x360', 50);
  const jobs = rig.soak ? 40 : 16;
  const outageMs = rig.soak ? 30_000 : 12_000;
  for (let i = 0; i < jobs; i++) await storage.blobs.uploadFile(names.videoContainer, `o/v${i}.mp4`, video);
  const workers = await Promise.all(
    [0, 1].map((i) => startWorker(rig, { names, id: `outage-w${i}`, concurrency: 2, sas: i === 1 })),
  );
  for (let i = 0; i < jobs; i++) {
    await storage.queue.send(JSON.stringify({ id: `outage-${i}`, video: `o/v${i}.mp4`, options: OPTIONS }));
  }
  const doneCount = async () => {
    const r = await Promise.all(Array.from({ length: jobs }, (_, i) => storage.jobs.get(`outage-${i}`)));
    return r.filter((j) => j?.status === 'done').length;
  };
  await waitFor('a few jobs done', async () => (await doneCount()) >= 3, 60_000);
  const before = await doneCount();
  const cutAt = new Date();
  await Promise.all(rig.proxies.map((p) => p.cut()));
  await sleep(outageMs);
  check.ok(
    workers.every((w) => w.alive),
    'no worker died during the outage',
  );
  await Promise.all(rig.proxies.map((p) => p.restore()));
  const restoredAt = new Date();
  const t0 = Date.now();
  await waitFor('the batch completes', async () => (await doneCount()) === jobs, rig.soak ? 180_000 : 90_000);
  const recoverMs = Date.now() - t0;
  await waitFor('queue empty', async () => (await storage.queue.depth()) === 0, 30_000);
  const codes = await Promise.all(workers.map((w) => stopWorker(w)));
  check.ok(
    codes.every((c) => c === 0),
    `workers exit 0 (got ${codes.join(',')})`,
  );
  check.equal(await storage.poison.depth(), 0, 'poisoned');
  for (const w of workers) check.equal((await leftovers(w.tempDir)).length, 0, `${w.id} temp files`);

  // Log lines during the outage (and until the first success after it), per worker.
  const perWorker: string[] = [];
  for (const w of workers) {
    const lines = readLog(w.log).filter((l) => {
      const t = Date.parse(String(l.time));
      return t >= cutAt.getTime() && t <= restoredAt.getTime() + 5000 && (l.level ?? 0) >= 40;
    });
    const unattributed = lines.filter((l) => !l.jobId);
    const byMsg = new Map<string, number>();
    for (const l of lines) byMsg.set(String(l.msg), (byMsg.get(String(l.msg)) ?? 0) + 1);
    perWorker.push(`${w.id}: ${lines.length} (${[...byMsg].map(([m, n]) => `${n}x ${m}`).join('; ')})`);
    check.ok(
      unattributed.length <= 2,
      `${w.id}: at most 2 warn/error lines not about a job during the outage (got ${unattributed.length}: ${[...new Set(unattributed.map((l) => l.msg))].join(' / ')})`,
    );
    // Job-attributed lines: a handful per job in hand (2 here), whatever the outage's length.
    const jobLines = lines.length - unattributed.length;
    check.ok(jobLines <= 6 * 2, `${w.id}: job lines bounded by jobs in hand (got ${jobLines})`);
    const down = readLog(w.log).filter((l) => l.msg === 'storage is unreachable; backing off').length;
    check.equal(down, 1, `${w.id}: "storage is unreachable" lines`);
  }
  return {
    check,
    figures: `${jobs} jobs, 2 workers x2, blob+queue+table cut ${outageMs / 1000} s after ${before} done; batch complete ${(recoverMs / 1000).toFixed(1)} s after restore, 0 lost, 0 poisoned; warn/error lines during outage: ${perWorker.join(' / ')}`,
  };
}
