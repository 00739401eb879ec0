import { randomUUID } from 'node:crypto';
import {
  adminStorage,
  Check,
  namesFor,
  percentile,
  readLog,
  startWorker,
  stopWorker,
  waitFor,
  type Rig,
} from '../harness.js';
import { clip } from '../media.js';
import type { ScenarioOutcome } from '../run.js';

/** Load: N short real ffmpeg jobs through 2 workers; throughput, latency, memory, none lost or doubled. */
export async function load(rig: Rig): Promise<ScenarioOutcome> {
  const check = new Check();
  const jobs = rig.soak ? 600 : 200;
  const names = namesFor('load');
  const storage = await adminStorage(rig, names);
  const video = await clip(1, '160x90');
  const options = { outputs: ['strip'], rows: 2, cols: 2, width: 80 };
  // One upload, then server-side copies: every job has its own blob (and its own claim).
  await storage.blobs.uploadFile(names.videoContainer, 'load/source.mp4', video);
  const source = storage.blobs.container(names.videoContainer).getBlobClient('load/source.mp4');
  const ids: string[] = [];
  for (let i = 0; i < jobs; i += 20) {
    await Promise.all(
      Array.from({ length: Math.min(20, jobs - i) }, async (_, k) => {
        const n = i + k;
        await storage.blobs
          .container(names.videoContainer)
          .getBlobClient(`load/v${n}.mp4`)
          .syncCopyFromURL(`${source.url}?${rig.account.sas}`);
      }),
    );
  }
  const workers = await Promise.all(
    [0, 1].map((i) =>
      startWorker(rig, {
        names,
        id: `load-w${i}`,
        concurrency: 2,
        sas: i === 1,
        env: { THUMBNAILER_POLL_INTERVAL_MS: '100' },
      }),
    ),
  );
  const enqueuedAt = new Map<string, number>();
  const run = randomUUID().slice(0, 6);
  const t0 = Date.now();
  for (let i = 0; i < jobs; i += 25) {
    await Promise.all(
      Array.from({ length: Math.min(25, jobs - i) }, async (_, k) => {
        const n = i + k;
        const id = `load-${run}-${n}`;
        ids.push(id);
        enqueuedAt.set(id, Date.now());
        await storage.queue.send(JSON.stringify({ id, video: `load/v${n}.mp4`, options }));
      }),
    );
  }
  const done = new Map<string, number>();
  await waitFor(
    `${jobs} jobs done`,
    async () => {
      const records = await storage.jobs.list(10_000);
      for (const r of records) {
        if (r.status === 'done' && enqueuedAt.has(r.id) && !done.has(r.id))
          done.set(r.id, Date.parse(r.finishedAt!));
        if (r.status === 'failed' && enqueuedAt.has(r.id))
          throw new Error(`job ${r.id} failed: ${r.error?.message}`);
      }
      return done.size === jobs;
    },
    rig.soak ? 900_000 : 240_000,
    1000,
  );
  const elapsedMs = Math.max(...done.values()) - t0;
  const peaks = workers.map((w) => w.peakKiB() ?? 0);
  const codes = await Promise.all(workers.map((w) => stopWorker(w)));
  check.ok(
    codes.every((c) => c === 0),
    `workers exit 0 (got ${codes.join(',')})`,
  );

  const latencies = ids.map((id) => done.get(id)! - enqueuedAt.get(id)!);
  const encodes = new Map<string, number>();
  for (const w of workers) {
    for (const line of readLog(w.log)) {
      if (line.msg === 'job done' && typeof line.jobId === 'string')
        encodes.set(line.jobId, (encodes.get(line.jobId) ?? 0) + 1);
    }
  }
  const lost = ids.filter((id) => !encodes.has(id));
  const doubled = ids.filter((id) => (encodes.get(id) ?? 0) > 1);
  check.equal(lost.length, 0, 'jobs never encoded');
  check.equal(doubled.length, 0, 'jobs encoded twice');
  const manifests = (await storage.blobs.list(names.thumbnailContainer, 'load/')).filter((b) =>
    b.name.endsWith('/manifest.json'),
  );
  check.equal(manifests.length, jobs, 'manifests');
  check.equal(await storage.queue.depth(), 0, 'queue depth');
  check.equal(await storage.poison.depth(), 0, 'poisoned');
  const perMin = (jobs / elapsedMs) * 60_000;
  const maxPeak = Math.max(...peaks);
  check.ok(maxPeak < 300 * 1024, `worker peak memory ${Math.round(maxPeak / 1024)} MB under 300 MB`);
  return {
    check,
    figures: `${jobs} jobs, 2 workers x2: ${perMin.toFixed(0)} jobs/min, p50 ${(percentile(latencies, 50) / 1000).toFixed(1)} s, p95 ${(percentile(latencies, 95) / 1000).toFixed(1)} s (enqueue→done), peak VmHWM ${peaks.map((p) => `${Math.round(p / 1024)} MB`).join('/')}, lost ${lost.length}, duplicated ${doubled.length}`,
  };
}
