import { chmod, mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { resolveBinaries } from '../../../src/engine/binaries.js';
import {
  adminStorage,
  Check,
  namesFor,
  readLog,
  startWorker,
  stopWorker,
  waitFor,
  type Rig,
} from '../harness.js';
import { clip } from '../media.js';
import type { ScenarioOutcome } from '../run.js';
import { leftovers } from './crash.js';

const OPTIONS = { outputs: ['strip', 'storyboard'], width: 160 } as const;

/**
 * An ffmpeg wrapper at the process boundary: runs the real ffmpeg, except that an encode run
 * (one with `-progress`) that finds a fault token ($FAULT_DIR/hang, spin or kill) takes it and hangs (sleeps
 * silently), spins (prints the same progress line for ever), or is SIGKILLed 50 ms in.
 */
function wrapper(real: string): string {
  return `#!/bin/sh
REAL='${real}'
case " $* " in *" -progress "*) ;; *) exec "$REAL" "$@" ;; esac
for kind in hang spin kill; do
  f="$FAULT_DIR/$kind"
  [ -e "$f" ] || continue
  mv "$f" "$f.taken" 2>/dev/null || continue
  case $kind in
    hang) exec sleep 600 ;;
    spin) while :; do echo "frame=0" >&2; echo "progress=continue" >&2; sleep 0.2; done ;;
    kill) ( sleep 0.05; kill -9 $$ ) & exec "$REAL" "$@" ;;
  esac
done
exec "$REAL" "$@"
`;
}

/** ffmpeg hangs, spins or dies mid-job: the job fails with a clear reason, is retried, the worker lives. */
export async function ffmpegFailure(rig: Rig): Promise<ScenarioOutcome> {
  const check = new Check();
  const names = namesFor('ffmpeg');
  const storage = await adminStorage(rig, names);
  const video = await clip(8, '320x180');
  const bin = join(rig.root, 'ffmpeg-wrapper');
  const faults = join(rig.root, 'ffmpeg-faults');
  await mkdir(bin, { recursive: true });
  await mkdir(faults, { recursive: true });
  const ffmpeg = join(bin, 'ffmpeg');
  await writeFile(ffmpeg, wrapper(resolveBinaries().ffmpeg));
  await chmod(ffmpeg, 0o755);
  for (let i = 0; i < 8; i++) await storage.blobs.uploadFile(names.videoContainer, `f/v${i}.mp4`, video);

  const faulty = await startWorker(rig, {
    names,
    id: 'ffmpeg-faulty',
    env: {
      FFMPEG_PATH: ffmpeg,
      FAULT_DIR: faults,
      THUMBNAILER_FFMPEG_STALL_MS: '3000',
      THUMBNAILER_FFMPEG_TIMEOUT_MS: '6000',
    },
  });
  const pid = faulty.pid;
  const results: string[] = [];
  let n = 0;
  for (const kind of ['hang', 'spin', 'kill'] as const) {
    const id = `ff-${kind}`;
    await writeFile(join(faults, kind), '');
    await storage.queue.send(JSON.stringify({ id, video: `f/v${n++}.mp4`, options: OPTIONS }));
    const t0 = Date.now();
    const job = await waitFor(
      `${id} done after a retry`,
      async () => {
        const j = await storage.jobs.get(id);
        return j?.status === 'done' && j;
      },
      60_000,
    );
    const failedLine = readLog(faulty.log).find((l) => l.msg === 'job attempt failed' && l.jobId === id);
    const reason = failedLine
      ? `${String(failedLine.code)}: ${String((failedLine.err as { message?: string })?.message)}`
      : 'none';
    check.ok(failedLine, `${id}: a failed attempt was logged with its reason`);
    check.equal(job.attempts, 2, `${id}: completed on the second delivery`);
    check.ok((await readdir(faults)).includes(`${kind}.taken`), `${id}: the fault fired`);
    results.push(`${kind} → ${reason} → retried, done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }
  if (/E_FFMPEG_TIMEOUT/.test(results[0]!) === false)
    check.ok(false, `hang: reason is a timeout (${results[0]})`);
  if (/E_FFMPEG_TIMEOUT/.test(results[1]!) === false)
    check.ok(false, `spin: reason is a timeout (${results[1]})`);
  if (/SIGKILL|E_FFMPEG_FAILED/.test(results[2]!) === false)
    check.ok(false, `kill: reason names the failure (${results[2]})`);

  // Still healthy: the same process takes and finishes more work.
  for (let i = 0; i < 3; i++) {
    await storage.queue.send(
      JSON.stringify({ id: `ff-after-${i}`, video: `f/v${n++}.mp4`, options: OPTIONS }),
    );
  }
  await waitFor(
    'jobs after the faults',
    async () => {
      const r = await Promise.all([0, 1, 2].map((i) => storage.jobs.get(`ff-after-${i}`)));
      return r.every((j) => j?.status === 'done');
    },
    60_000,
  );
  check.ok(faulty.alive && faulty.pid === pid, 'the same worker process is still running');
  check.equal(await stopWorker(faulty), 0, 'worker exit code');
  check.equal(await storage.queue.depth(), 0, 'queue depth');
  check.equal(await storage.poison.depth(), 0, 'poisoned');
  check.equal((await leftovers(faulty.tempDir)).length, 0, 'temp files');
  return { check, figures: `${results.join('; ')}; then 3 more jobs on the same process; temp files 0` };
}
