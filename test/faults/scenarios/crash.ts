import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generate } from '../../../src/engine/generate.js';
import type { GenerateOptionsInput } from '../../../src/engine/options.js';
import {
  adminStorage,
  Check,
  filesUnder,
  namesFor,
  readLog,
  sleep,
  startWorker,
  stopWorker,
  waitFor,
  type Rig,
  type WorkerProc,
} from '../harness.js';
import { clip } from '../media.js';
import type { ScenarioOutcome } from '../run.js';

export const JOB_OPTIONS: GenerateOptionsInput = {
  mode: 'accurate',
  storyboardInterval: 0.5,
  outputs: ['strip', 'storyboard', 'poster'],
  width: 160,
};

/** Temporary files a worker left. */
export async function leftovers(dir: string): Promise<string[]> {
  return filesUnder(dir);
}

/** Jobs in hand for the worker's current process, from its log. */
function busy(w: WorkerProc): boolean {
  let n = 0;
  for (const l of readLog(w.log)) {
    if (l.pid !== w.pid) continue;
    if (l.msg === 'job started') n++;
    if (l.msg === 'job done' || l.msg === 'job failed' || l.msg === 'job attempt failed') n--;
  }
  return n > 0;
}

/** Crashes: workers SIGKILLed mid-job and restarted; every job completes once in effect. */
export async function crash(rig: Rig): Promise<ScenarioOutcome> {
  const check = new Check();
  const names = namesFor('crash');
  const storage = await adminStorage(rig, names);
  const sources = await Promise.all([
    clip(16, '640x360', 50, 'testsrc2'),
    clip(16, '640x360', 50, 'testsrc'),
    clip(16, '640x360', 50, 'smptebars'),
  ]);
  const jobs = rig.soak ? 24 : 9;
  const maxKills = rig.soak ? 16 : 5;
  for (let i = 0; i < jobs; i++) {
    await storage.blobs.uploadFile(names.videoContainer, `c/v${i}.mp4`, sources[i % 3]!);
  }
  const slots = ['crash-w0', 'crash-w1', 'crash-w2'];
  const current = new Map<string, WorkerProc>();
  const start = async (id: string, i: number) =>
    current.set(id, await startWorker(rig, { names, id, sas: i % 2 === 1 }));
  await Promise.all(slots.map((id, i) => start(id, i)));
  for (let i = 0; i < jobs; i++) {
    await storage.queue.send(
      JSON.stringify({ id: `crash-${i}`, video: `c/v${i}.mp4`, options: JOB_OPTIONS }),
    );
  }

  const allDone = async () => {
    const records = await Promise.all(Array.from({ length: jobs }, (_, i) => storage.jobs.get(`crash-${i}`)));
    return records.every((r) => r?.status === 'done');
  };
  let kills = 0;
  const deadline = Date.now() + (rig.soak ? 300_000 : 90_000);
  while (!(await allDone())) {
    if (Date.now() > deadline) throw new Error('the batch did not complete in time');
    await sleep(1500 + Math.random() * 2000);
    if (kills >= maxKills) continue;
    const candidates = slots.filter((id) => current.get(id)!.alive && busy(current.get(id)!));
    if (candidates.length === 0) continue;
    const id = candidates[Math.floor(Math.random() * candidates.length)]!;
    const victim = current.get(id)!;
    victim.child.kill('SIGKILL');
    await victim.exit;
    kills++;
    await sleep(300);
    await start(id, slots.indexOf(id));
  }
  await waitFor('queue empty', async () => (await storage.queue.depth()) === 0, 30_000);
  const codes = await Promise.all(slots.map((id) => stopWorker(current.get(id)!)));
  check.ok(
    codes.every((c) => c === 0),
    `workers exit 0 after the batch (got ${codes.join(',')})`,
  );
  check.ok(kills >= Math.min(3, maxKills), `at least 3 workers killed mid-job (killed ${kills})`);

  // A clean run of each source through the engine, to compare bytes with.
  const refs = await Promise.all(
    sources.map(async (path, i) => {
      const outDir = join(rig.root, `crash-ref-${i}`);
      const manifest = await generate({ source: { kind: 'file', path }, outDir, options: JOB_OPTIONS });
      return { outDir, manifest };
    }),
  );
  let identical = 0;
  for (let i = 0; i < jobs; i++) {
    const ref = refs[i % 3]!;
    const blobs = (await storage.blobs.list(names.thumbnailContainer, `c/v${i}.mp4/`)).map((b) => b.name);
    const expected = [
      ...ref.manifest.outputs.map((o) => `c/v${i}.mp4/${o.file}`),
      `c/v${i}.mp4/manifest.json`,
    ];
    check.equal(
      JSON.stringify(blobs.sort()),
      JSON.stringify(expected.sort()),
      `v${i}: exactly the outputs and one manifest`,
    );
    for (const o of ref.manifest.outputs) {
      const stored = await storage.blobs
        .container(names.thumbnailContainer)
        .getBlobClient(`c/v${i}.mp4/${o.file}`)
        .downloadToBuffer()
        .catch(() => Buffer.alloc(0));
      const local = await readFile(join(ref.outDir, o.file));
      if (stored.equals(local)) identical++;
      else check.ok(false, `v${i}/${o.file} differs from a clean run`);
    }
  }
  const all = await storage.blobs.list(names.thumbnailContainer, '');
  check.ok(
    all.every((b) => b.name.startsWith('c/')),
    'nothing outside the videos folders',
  );
  check.equal(await storage.queue.depth(), 0, 'queue depth');
  check.equal(await storage.poison.depth(), 0, 'poisoned');
  const left: string[] = [];
  for (const id of slots) left.push(...(await leftovers(join(rig.root, 'tmp', id))).map((f) => `${id}/${f}`));
  check.equal(left.length, 0, `temporary files left (${left.slice(0, 4).join(', ')})`);
  let encodes = 0;
  let skips = 0;
  let attempts = 0;
  for (let i = 0; i < jobs; i++) attempts += (await storage.jobs.get(`crash-${i}`))?.attempts ?? 0;
  for (const id of slots) {
    for (const l of readLog(join(rig.root, 'logs', `${id}.log`))) {
      if (l.msg === 'job done') encodes++;
      if (l.outcome === 'skipped') skips++;
    }
  }
  return {
    check,
    figures: `${jobs} jobs, 3 workers, ${kills} SIGKILLs mid-job (+restart); ${encodes} completed encodes, ${skips} skips, ${attempts} deliveries; ${identical} outputs byte-identical to a clean run; queue 0, poison 0, temp files ${left.length}`,
  };
}
