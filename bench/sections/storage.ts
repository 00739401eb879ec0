import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { startEmulator } from '../../src/adapters/emulator.js';
import { createStorage } from '../../src/adapters/storage.js';
import { devConnectionString, loadSettings } from '../../src/config.js';
import { generate } from '../../src/engine/generate.js';
import { createLogger } from '../../src/logger.js';
import { createWorkerRuntime } from '../../src/hosts/worker/runtime.js';
import { canMeasureMemory, measureMemory } from '../lib/memory.js';
import { countingProxy } from '../lib/proxy.js';
import { describeFailure, mustRun } from '../lib/proc.js';
import { median } from '../lib/stats.js';
import type { Section, TargetRow } from '../lib/types.js';

/**
 * The service reading from Blob storage (docs/contract.md section 9), on a private Azurite:
 * - bytes read from Blob storage for the default outputs of the >= 150 MB 5-min video, counted by
 *   a TCP proxy in front of the blob endpoint (every byte the service received from it, HTTP
 *   headers included, whoever asked: SDK range reads or ffmpeg through a SAS URL);
 * - peak memory of a `thumbnailer worker --once` process (node + ffmpeg) doing that job;
 * - per-job overhead outside the engine (queue receive to message delete, minus engine time) over
 *   a run of small jobs in one worker.
 */

export const storageSection: Section = {
  name: 'storage',
  title: 'reading from Blob storage (Azurite): bytes read, worker memory, per-job overhead',
  needsOurs: true,
  async run(ctx) {
    const targets: TargetRow[] = [];
    const notes: string[] = [];
    const video = ctx.media.short;
    const location = join(ctx.tmp, 'azurite');
    await mkdir(location, { recursive: true });
    const emulator = await startEmulator({ ports: 'free', location });
    const proxy = await countingProxy(emulator.ports.blob);
    const connectionString = devConnectionString({ ...emulator.ports, blob: proxy.port });
    const settings = loadSettings(
      { connectionString, worker: { concurrency: 1, pollIntervalMs: 50, tempDir: ctx.tmp } },
      {},
    );
    try {
      const storage = await createStorage(settings);
      await storage.ensure();
      ctx.log(`storage: uploading ${video.name} (${(video.bytes / 1e6).toFixed(0)} MB) to Azurite`);
      await storage.blobs.uploadFile(settings.videoContainer, 'bench/5min.mp4', video.path);
      await storage.queue.send(JSON.stringify({ id: 'bench-bytes', video: 'bench/5min.mp4' }));

      // One worker process takes the job: bytes through the proxy, and its peak memory.
      proxy.reset();
      const env = {
        AzureWebJobsStorage: connectionString,
        THUMBNAILER_TEMP_DIR: ctx.tmp,
        THUMBNAILER_LOG_LEVEL: 'warn',
      };
      const worker = [ctx.ours!, 'worker', '--once', '--wait', '60'];
      const report = canMeasureMemory()
        ? await measureMemory(process.execPath, worker, {
            timeoutMs: 600_000,
            signal: ctx.signal,
            tmp: ctx.tmp,
            env,
          })
        : undefined;
      if (!report) {
        await mustRun(process.execPath, worker, { timeoutMs: 600_000, signal: ctx.signal, env });
      }
      const bytes = proxy.bytes();
      const job = await storage.jobs.get('bench-bytes');
      const manifestText = await storage.blobs.readText(
        settings.thumbnailContainer,
        'bench/5min.mp4/manifest.json',
      );
      const problems: string[] = [];
      if (report && report.result.code !== 0)
        problems.push(`worker failed (${describeFailure(report.result)})`);
      if (job?.status !== 'done')
        problems.push(`job is ${job?.status ?? 'missing'}: ${job?.error?.message ?? ''}`);
      const manifest = manifestText
        ? (JSON.parse(manifestText) as { route: string; bytesRead?: number; outputs: unknown[] })
        : undefined;
      if (!manifest || manifest.outputs.length < 5) problems.push('manifest missing or incomplete');
      const share = (bytes / video.bytes) * 100;
      ctx.log(
        `  storage: ${(bytes / 1e6).toFixed(2)} MB read of ${(video.bytes / 1e6).toFixed(0)} MB (${share.toFixed(2)}%), ` +
          `route ${manifest?.route ?? '?'}, engine-counted ${((manifest?.bytesRead ?? 0) / 1e6).toFixed(2)} MB`,
      );
      targets.push({
        label: 'bytes read from Blob storage, default outputs, 5-min (165 MB) video',
        value: bytes / 1e6,
        unit: 'MB',
        comparator: '<=',
        target: Math.round((video.bytes * 0.05) / 1e4) / 100,
        from: [],
        problems,
        detail:
          `${share.toFixed(2)}% of the blob (target: at most 5%); counted by a TCP proxy in front of ` +
          `Azurite's blob endpoint (all response bytes incl. HTTP headers); route ${manifest?.route ?? '?'}`,
      });
      if (report) {
        const largest = report.largestProcessMB;
        targets.push({
          label: 'peak RSS of `thumbnailer worker --once`, 5-min video from Blob storage, node + ffmpeg',
          value: Math.max(report.treeMB, largest ?? 0),
          unit: 'MB',
          comparator: '<',
          target: 300,
          from: [],
          problems,
          detail: `largest single process ${largest === undefined ? '?' : largest.toFixed(0)} MB; tree sampled every 20 ms`,
        });
      }

      // Per-job overhead: small jobs in one in-process worker on the emulator.
      const clip = join(ctx.tmp, 'overhead-clip.mp4');
      await mustRun('ffmpeg', [
        ...['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi'],
        ...[
          '-i',
          'testsrc2=size=640x360:rate=25:duration=10',
          '-c:v',
          'libx264',
          '-g',
          '50',
          '-pix_fmt',
          'yuv420p',
        ],
        clip,
      ]);
      const JOBS = 12;
      for (let i = 0; i < JOBS; i++)
        await storage.blobs.uploadFile(settings.videoContainer, `overhead/${i}.mp4`, clip);
      const runtime = await createWorkerRuntime(settings, {
        logger: createLogger({ level: 'silent' }),
        storage,
        generate,
      });
      const started = new Map<string, number>();
      const overheads: number[] = [];
      runtime.worker.on('started', (e) => started.set(e.messageId, performance.now()));
      runtime.worker.on('completed', (e) => {
        if (e.outcome.kind !== 'done') return;
        const total = performance.now() - (started.get(e.messageId) ?? performance.now());
        overheads.push(total - e.outcome.engineMs);
      });
      runtime.worker.start();
      for (let i = 0; i < JOBS; i++) {
        const before = overheads.length;
        await storage.queue.send(`overhead/${i}.mp4`);
        const deadline = Date.now() + 60_000;
        while (overheads.length === before && Date.now() < deadline)
          await new Promise((r) => setTimeout(r, 20));
      }
      await runtime.worker.close(5000);
      // The first job warms connections and modules: left out.
      const measured = overheads.slice(1);
      const med = median(measured);
      ctx.log(
        `  storage: per-job overhead outside the engine, median ${med?.toFixed(1)} ms over ${measured.length} jobs`,
      );
      targets.push({
        label: 'per-job overhead outside the engine on the emulator, median / 100 ms budget',
        value: med === undefined ? undefined : med / 100,
        unit: 'x',
        comparator: '<',
        target: 1,
        from: [],
        problems: measured.length < JOBS - 1 ? [`only ${measured.length} of ${JOBS - 1} jobs completed`] : [],
        detail:
          `median ${med?.toFixed(1)} ms: message receipt to message delete (parse, blob properties, manifest ` +
          `check, claim, job records, output uploads, manifest), minus engine time`,
      });
      notes.push(
        'storage: bytes counted at the TCP level between the service and Azurite; memory of the worker ' +
          'process tree while it takes one message and makes strip + poster + storyboard.',
      );
    } finally {
      await proxy.close();
      await emulator.stop();
      await rm(location, { recursive: true, force: true });
    }
    return { timings: [], targets, notes };
  },
};
