import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { startEmulator } from '../../src/adapters/emulator.js';
import { createStorage } from '../../src/adapters/storage.js';
import { devConnectionString, loadSettings } from '../../src/config.js';
import { buildApp } from '../../src/hosts/http/app.js';
import { probeImage } from '../lib/image.js';
import { countingProxy } from '../lib/proxy.js';
import { median } from '../lib/stats.js';
import type { Section, TargetRow } from '../lib/types.js';

/**
 * On-demand frames (docs/contract.md section 9): `GET /api/videos/:name/frame.jpg` on the 60-minute
 * 1080p video in Blob storage (a private Azurite), through the HTTP app as a client calls it.
 * The first request reads the container index; the next 20, at random times (fixed seed), are
 * timed end to end and their bytes from storage counted by a TCP proxy in front of the blob
 * endpoint; every image is decoded and its width checked. Beside them: the time and bytes of a
 * whole-file download of the same blob through the same proxy.
 */

const REQUESTS = 20;
const WIDTH = 320;

/** Deterministic times from one run to the next (mulberry32). */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const framesSection: Section = {
  name: 'frames',
  title: 'frames on demand from the 60-min video in Blob storage (HTTP API, Azurite)',
  needsOurs: false,
  async run(ctx) {
    const targets: TargetRow[] = [];
    const notes: string[] = [];
    const video = ctx.media.long;
    const location = join(ctx.tmp, 'azurite-frames');
    await mkdir(location, { recursive: true });
    const emulator = await startEmulator({ ports: 'free', location });
    const proxy = await countingProxy(emulator.ports.blob);
    const connectionString = devConnectionString({ ...emulator.ports, blob: proxy.port });
    const settings = loadSettings({ connectionString, worker: { tempDir: ctx.tmp } }, {});
    const name = 'bench/60min-1080p.mp4';
    let app: ReturnType<typeof buildApp> | undefined;
    try {
      const storage = await createStorage(settings);
      await storage.ensure();
      ctx.log(`frames: uploading ${video.name} (${(video.bytes / 1e9).toFixed(2)} GB) to Azurite`);
      await storage.blobs.uploadFile(settings.videoContainer, name, video.path, { contentType: 'video/mp4' });

      // The whole-file download, for scale.
      proxy.reset();
      const started = performance.now();
      let downloaded = 0;
      for await (const chunk of (await storage.blobs.download(
        settings.videoContainer,
        name,
      )) as AsyncIterable<Buffer>)
        downloaded += chunk.length;
      const downloadMs = performance.now() - started;
      const downloadBytes = proxy.bytes();
      ctx.log(
        `  frames: whole-file download ${(downloadBytes / 1e6).toFixed(0)} MB in ${(downloadMs / 1000).toFixed(2)} s`,
      );

      app = buildApp({
        registry: new Registry(),
        readiness: async () => ({}),
        api: { storage, maxUploadBytes: 1, tempDir: ctx.tmp, dashboard: false },
      });
      const base = await app.listen({ host: '127.0.0.1', port: 0 });
      const problems: string[] = [];
      if (downloaded !== video.bytes)
        problems.push(`download returned ${downloaded} of ${video.bytes} bytes`);
      const frame = async (time: number, index: number) => {
        proxy.reset();
        const t0 = performance.now();
        const res = await fetch(
          `${base}/api/videos/${encodeURIComponent(name)}/frame.jpg?time=${time.toFixed(3)}&width=${WIDTH}`,
          { signal: ctx.signal },
        );
        const body = Buffer.from(await res.arrayBuffer());
        const ms = performance.now() - t0;
        const bytes = proxy.bytes();
        if (res.status !== 200) {
          problems.push(`frame at ${time.toFixed(1)} s: HTTP ${res.status} ${body.toString().slice(0, 200)}`);
          return { ms, bytes };
        }
        const file = join(ctx.tmp, `frame-${index}.jpg`);
        await writeFile(file, body);
        try {
          const info = await probeImage(file);
          if (info.width !== WIDTH || info.codec !== 'mjpeg') {
            problems.push(`frame at ${time.toFixed(1)} s: ${info.codec} ${info.width}x${info.height}`);
          }
        } catch (error) {
          problems.push(`frame at ${time.toFixed(1)} s does not decode: ${(error as Error).message}`);
        }
        return { ms, bytes };
      };

      const next = random(20_240_601);
      const first = await frame(video.duration / 2, 0);
      ctx.log(
        `  frames: first request (reads the container index) ${first.ms.toFixed(0)} ms, ${(first.bytes / 1e6).toFixed(2)} MB`,
      );
      const times: number[] = [];
      const sizes: number[] = [];
      for (let i = 1; i <= REQUESTS; i++) {
        const r = await frame(next() * (video.duration - 1), i);
        times.push(r.ms);
        sizes.push(r.bytes);
      }
      const medMs = median(times)!;
      const medBytes = median(sizes)!;
      ctx.log(
        `  frames: ${REQUESTS} requests at random times: median ${medMs.toFixed(0)} ms (min ${Math.min(...times).toFixed(0)}, ` +
          `max ${Math.max(...times).toFixed(0)}), median ${(medBytes / 1e3).toFixed(0)} KB read from storage ` +
          `(max ${(Math.max(...sizes) / 1e3).toFixed(0)} KB)`,
      );
      targets.push({
        label: `on-demand frame (${WIDTH} px, fast mode) from the 60-min video in Blob storage, median of ${REQUESTS} after the first / 300 ms budget`,
        value: medMs / 300,
        unit: 'x',
        comparator: '<',
        target: 1,
        from: [],
        problems,
        detail:
          `median ${medMs.toFixed(0)} ms over HTTP (GET /api/videos/:name/frame.jpg); first request ${first.ms.toFixed(0)} ms ` +
          `(container index: ${(first.bytes / 1e6).toFixed(2)} MB)`,
      });
      targets.push({
        label: 'bytes read from Blob storage per on-demand frame, median',
        value: medBytes / 1e6,
        unit: 'MB',
        comparator: '<=',
        target: 1,
        from: [],
        problems,
        detail: `median ${(medBytes / 1e3).toFixed(0)} KB, max ${(Math.max(...sizes) / 1e3).toFixed(0)} KB: ${((medBytes / video.bytes) * 100).toFixed(4)}% of the ${(video.bytes / 1e9).toFixed(2)} GB blob; TCP bytes incl. HTTP headers`,
      });
      targets.push({
        label: 'whole-file download of the same blob (for scale)',
        value: downloadBytes / 1e6,
        unit: 'MB',
        from: [],
        detail: `${(downloadMs / 1000).toFixed(2)} s through the same proxy: ${(downloadMs / medMs).toFixed(0)}x a frame's time, ${(downloadBytes / medBytes).toFixed(0)}x its bytes`,
      });
      notes.push(
        `${REQUESTS} random times (fixed seed) after one request that reads the container index; ` +
          `each image decoded by ffprobe and checked to be ${WIDTH} px wide.`,
      );
    } finally {
      await app?.close();
      await proxy.close();
      await emulator.stop();
      await rm(location, { recursive: true, force: true });
    }
    return { timings: [], targets, notes };
  },
};
