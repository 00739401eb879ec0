import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { JobRecord } from '../src/adapters/jobs.js';
import { runLocalService } from '../src/hosts/cli/local.js';
import { submitVideo } from '../src/hosts/cli/submit.js';
import { startAzurite, type TestAzurite } from './support/azurite.js';
import { media } from './support/media.js';
import { testSettings, waitFor } from './support/worker.js';

let azurite: TestAzurite;

before(async () => {
  azurite = await startAzurite();
});
after(async () => {
  await azurite?.stop();
});

describe('local service (start) and submit', () => {
  test('start serves /healthz, /readyz and /metrics, and processes a submit --wait end to end', async () => {
    const settings = testSettings(azurite.connectionString, {
      ...azurite.names('svc'),
      port: 0,
      logLevel: 'silent',
    });
    const { videoContainer, thumbnailContainer } = settings;
    const lines: string[] = [];
    const stop = new AbortController();
    const service = runLocalService(settings, { signal: stop.signal, print: (l) => lines.push(l) });
    try {
      const base = await waitFor(
        'HTTP address',
        () => lines.map((l) => /HTTP on (\S+):/.exec(l)?.[1]).find(Boolean),
        30_000,
      );
      const health = await fetch(`${base}/healthz`);
      assert.equal(health.status, 200);
      assert.deepEqual(await health.json(), { status: 'ok' });
      const ready = await fetch(`${base}/readyz`);
      const readyBody = (await ready.json()) as { status: string; checks: Record<string, { ok: boolean }> };
      assert.equal(ready.status, 200, JSON.stringify(readyBody));
      assert.deepEqual([readyBody.checks.storage?.ok, readyBody.checks.ffmpeg?.ok], [true, true]);

      const printed: string[] = [];
      const seen: JobRecord[] = [];
      const code = await submitVideo(settings, await media('cityC'), {
        name: 'submitted/city c.mp4',
        wait: true,
        timeoutMs: 60_000,
        pollMs: 100,
        options: { storyboardInterval: 1 },
        print: (l) => printed.push(l),
        onProgress: (j) => seen.push(j),
      });
      assert.equal(code, 0, printed.join('\n'));
      assert.match(
        printed[0]!,
        new RegExp(`uploaded ${videoContainer}/submitted/city c\\.mp4 .* job [0-9a-f-]{36} queued`),
      );
      const strip = new RegExp(
        `strip\\.jpg\\s+http://127\\.0\\.0\\.1:\\d+/devstoreaccount1/${thumbnailContainer}/submitted/city%20c\\.mp4/strip\\.jpg`,
      );
      assert.ok(
        printed.some((l) => strip.test(l)),
        printed.join('\n'),
      );
      assert.ok(printed.some((l) => /manifest\.json/.test(l)));
      assert.equal(seen.at(-1)?.status, 'done');

      // The job record says done just before the message is deleted and the metrics count it.
      const metrics = await waitFor('metrics of the job', async () => {
        const text = await (await fetch(`${base}/metrics`)).text();
        return /thumbnailer_jobs_total\{outcome="done"\} 1/.test(text) && text;
      });
      assert.match(metrics, /thumbnailer_jobs_total\{outcome="done"\} 1/);
      assert.match(metrics, /thumbnailer_storage_bytes_read_total [1-9]\d*/);
      assert.match(metrics, /thumbnailer_queue_depth\{queue="requests"\} 0/);
      assert.match(metrics, /thumbnailer_job_overhead_seconds_count 1/);

      const missing = await fetch(`${base}/nope`);
      assert.equal(missing.status, 404);
      assert.equal(((await missing.json()) as { error: { code: string } }).error.code, 'E_NOT_FOUND');

      // A bad option is refused before anything is uploaded.
      await assert.rejects(
        submitVideo(settings, await media('cityC'), { options: { rows: 0 }, print: () => {} }),
        /rows/,
      );
    } finally {
      stop.abort();
      assert.equal(await service, 0);
    }
  });
});
