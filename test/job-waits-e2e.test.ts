import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { TableClient } from '@azure/data-tables';
import type { Storage } from '../src/adapters/storage.js';
import { generate } from '../src/engine/generate.js';
import type { GenerateRequest, Manifest } from '../src/engine/types.js';
import { startAzurite, type TestAzurite } from './support/azurite.js';
import { startFaultProxy, type FaultProxy } from './support/fault-proxy.js';
import { media } from './support/media.js';
import { startTestWorker, waitFor } from './support/worker.js';

/**
 * Issue 12, end to end against Azurite with the real worker, handler and engine: a lost claim
 * stops the job, and a table-only outage waits instead of burning deliveries.
 */

let azurite: TestAzurite;

before(async () => {
  azurite = await startAzurite();
});

after(async () => {
  await azurite?.stop();
});

const poisonCount = async (storage: Storage) => (await storage.poison.peek(32)).length;

async function harness(options: {
  engine: (req: GenerateRequest) => Promise<Manifest>;
  connectionString?: string;
  visibilityTimeoutSeconds?: number;
  maxDeliveries?: number;
}) {
  const w = await startTestWorker(azurite, {
    engine: options.engine,
    connectionString: options.connectionString,
    settings: {
      worker: {
        concurrency: 1,
        visibilityTimeoutSeconds: options.visibilityTimeoutSeconds ?? 10,
        maxDeliveries: options.maxDeliveries ?? 5,
      },
    },
    start: false,
  });
  await w.storage.blobs.uploadFile(w.storage.videoContainer, 'v.mp4', await media('cityA'), {
    contentType: 'video/mp4',
  });
  const deferred: { reason: string; attempt: number }[] = [];
  w.worker.on('deferred', (e) => deferred.push({ reason: e.reason, attempt: e.attempt }));
  // Counted deliveries: a retry after a backoff, or the poison queue.
  const counted: string[] = [];
  w.worker.on('failed', (e) => counted.push(`retried ${e.error.code}`));
  w.worker.on('poisoned', (e) => counted.push(`poisoned ${e.error.code}`));
  w.worker.start();
  return {
    settings: w.settings,
    storage: w.storage,
    calls: w.generateCalls,
    deferred,
    counted,
    close: () => w.close(),
  };
}

describe('a lost claim stops the job', () => {
  test('another worker takes the claim mid-run: the run aborts with E_CLAIM_LOST, commits nothing, and its message comes back fresh', async () => {
    // The first run stays in the engine until its signal aborts, then hands the aborted request to
    // the real engine (which gives up as it would mid-encode); later runs encode for real.
    const h = await harness({
      visibilityTimeoutSeconds: 2, // claims live 2 s and are renewed every second
      engine: async (req) => {
        if (h.calls.length === 1) {
          await new Promise<void>((resolve) => {
            if (req.signal?.aborted) return resolve();
            req.signal?.addEventListener('abort', () => resolve(), { once: true });
          });
        }
        return generate(req);
      },
    });
    const claims = TableClient.fromConnectionString(azurite.connectionString, h.settings.jobsTable, {
      allowInsecureConnection: true,
    });
    const claimRow = createHash('sha256').update('v.mp4').digest('hex');
    try {
      const { storage } = h;
      await storage.queue.send(
        JSON.stringify({ id: 'job-a', video: 'v.mp4', options: { outputs: ['strip'] } }),
      );
      await waitFor('job-a running', () => h.calls.length === 1, 60_000, 50);
      // Another worker takes the claim, written as src/adapters/jobs.ts writes one.
      await claims.upsertEntity(
        {
          partitionKey: 'claim',
          rowKey: claimRow,
          owner: 'another-worker-message',
          key: 'another-etag|another-options',
          jobId: 'job-elsewhere',
          expiresAt: Date.now() + 10 * 60_000,
        },
        'Replace',
      );
      await waitFor('the run stopped', () => h.deferred.some((d) => d.reason === 'claim-lost'), 30_000, 50);
      assert.equal(h.deferred[0]?.reason, 'claim-lost', 'the first decision is the lost claim');
      assert.equal(h.calls[0]?.signal?.aborted, true, 'the engine was told to stop');
      const stopped = await storage.jobs.get('job-a');
      assert.equal(stopped?.status, 'queued');
      assert.equal(stopped?.error?.code, 'E_CLAIM_LOST');
      assert.equal(
        await storage.blobs.readText(storage.thumbnailContainer, 'v.mp4/manifest.json'),
        undefined,
        'the stopped run committed no manifest',
      );
      assert.equal(await poisonCount(storage), 0);
      // The other worker's claim is left alone by the stopped run.
      const holder = await claims.getEntity<{ owner: string }>('claim', claimRow);
      assert.equal(holder.owner, 'another-worker-message');

      // The other worker finishes (its claim goes): the fresh copy runs to the end.
      await claims.deleteEntity('claim', claimRow);
      const done = await waitFor(
        'job-a done',
        async () => {
          const r = await storage.jobs.get('job-a');
          return r?.status === 'done' && r;
        },
        180_000,
        200,
      );
      assert.equal(done.attempts, 1, 'the lost claim did not count as a delivery');
      assert.deepEqual(h.counted, [], 'no delivery was retried or poisoned');
      assert.ok(
        h.deferred.every((d) => d.attempt === 1),
        'every wait was of a fresh copy (dequeue count 1)',
      );
      assert.ok(await storage.blobs.readText(storage.thumbnailContainer, 'v.mp4/manifest.json'));
      assert.equal(await poisonCount(storage), 0);
      assert.equal((await storage.queue.peek(32)).length, 0, 'the message is gone once done');
    } finally {
      await h.close();
    }
  });
});

describe('a table-only outage waits', () => {
  let proxy: FaultProxy;
  before(async () => {
    proxy = await startFaultProxy(azurite.ports.table);
  });
  after(async () => {
    await proxy?.close();
  });

  test('the job table answering 503 while blobs and queue work: no delivery is counted, then the job runs once', async () => {
    // Only the table goes through the proxy; blobs and queue talk to Azurite directly.
    const connectionString = azurite.connectionString.replace(
      /TableEndpoint=http:\/\/127\.0\.0\.1:\d+/,
      `TableEndpoint=http://127.0.0.1:${proxy.port}`,
    );
    assert.notEqual(connectionString, azurite.connectionString);
    const h = await harness({ engine: generate, connectionString, maxDeliveries: 2 });
    try {
      const { storage } = h;
      proxy.failWhen = () => true;
      await storage.queue.send(
        JSON.stringify({ id: 'job-t', video: 'v.mp4', options: { outputs: ['strip'] } }),
      );
      // With maxDeliveries 2 and retries at 0 ms, three counted deliveries would have poisoned it.
      await waitFor(
        'three waits through the outage',
        () => h.counted.length > 0 || h.deferred.filter((d) => d.reason === 'table-unavailable').length >= 3,
        60_000,
        50,
      );
      assert.deepEqual(h.counted, [], 'no delivery was retried or poisoned');
      assert.ok(proxy.failed > 0, 'the table calls really went through the failing proxy');
      assert.ok(h.deferred.every((d) => d.reason === 'table-unavailable' && d.attempt === 1));
      assert.equal(h.calls.length, 0, 'nothing encoded while the table was down');
      assert.equal(await poisonCount(storage), 0);

      proxy.failWhen = undefined;
      const done = await waitFor(
        'job-t done',
        async () => {
          const r = await storage.jobs.get('job-t');
          return r?.status === 'done' && r;
        },
        180_000,
        200,
      );
      assert.equal(done.attempts, 1, 'the outage did not count as deliveries');
      assert.deepEqual(h.counted, []);
      assert.equal(h.calls.length, 1, 'the job ran exactly once');
      assert.equal(await poisonCount(storage), 0);
      assert.equal((await storage.queue.peek(32)).length, 0, 'the message is gone once done');
    } finally {
      proxy.failWhen = undefined;
      await h.close();
    }
  });
});
