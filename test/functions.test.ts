import assert from 'node:assert/strict';
import { readFile, mkdtemp, rm, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { devConnectionString, JOBS_TABLE, loadSettings } from '../src/config.js';
import { createStorage, type Storage } from '../src/adapters/storage.js';
import { hostConfigFrom, parseTimeSpan } from '../src/hosts/functions/host-config.js';
import { dequeueCountOf, messageText } from '../src/hosts/functions/queue.js';
import { startAzurite, type StorageNames, type TestAzurite } from './support/azurite.js';
import { startFaultProxy, type FaultProxy } from './support/fault-proxy.js';
import {
  FakeFunctionsHost,
  buildScriptRoot,
  httpResponseOf,
  type RpcTypedData,
} from './support/functions-host.js';
import { media } from './support/media.js';
import { ROOT, testSettings } from './support/worker.js';

/**
 * The Functions app as the Functions host runs it: compiled, loaded through the file package.json
 * "main" names with the host's `@azure/functions-core` provided, invoked through the library's
 * programming model with messages as the host hands them over, against Azurite.
 */

const FUNCTION = 'thumbnail';
/** Names of this file's own, set as app settings; the job table is the product's (no setting names it). */
let names: StorageNames;
let eventsQueue: string;

let azurite: TestAzurite;
let proxy: FaultProxy;
let host: FakeFunctionsHost;
let script: { root: string; remove: () => Promise<void> };
let storage: Storage;
let tempDir: string;
const savedEnv = { ...process.env };

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
const meta = (dequeueCount: number | string, id: string): Record<string, RpcTypedData> => ({
  // As the host sends them: the count as an integer (a string when the worker reads 64-bit ints
  // as strings), the id as a string, plus the rest of the queue trigger's metadata.
  DequeueCount: { int: dequeueCount },
  Id: { string: id },
  PopReceipt: { string: 'AgAAAAMAAAAAAAAA' },
  InsertionTime: { string: new Date().toISOString() },
});

async function poisonMessages(): Promise<Record<string, unknown>[]> {
  const texts = await storage.poison.peek(32);
  return texts.map((t) => JSON.parse(Buffer.from(t, 'base64').toString('utf8')) as Record<string, unknown>);
}

async function blobExists(container: string, name: string): Promise<boolean> {
  try {
    await storage.blobs.getProperties(container, name);
    return true;
  } catch {
    return false;
  }
}

before(async () => {
  [azurite, script] = await Promise.all([startAzurite(), buildScriptRoot()]);
  names = { ...azurite.names('fn'), jobsTable: JOBS_TABLE };
  eventsQueue = azurite.names('fnevents').queueName;
  proxy = await startFaultProxy(azurite.ports.blob);
  tempDir = await mkdtemp(join(tmpdir(), 'thumbnailer-functions-jobs-'));
  // Blob traffic of the app goes through the fault proxy; queues and table go straight to Azurite.
  const appConnection = devConnectionString({ ...azurite.ports, blob: proxy.port });
  for (const key of Object.keys(process.env)) {
    if (key.startsWith('AzureWebJobsStorage') || key.startsWith('THUMBNAIL') || key === 'VIDEOCONTAINER') {
      delete process.env[key];
    }
  }
  Object.assign(process.env, {
    AzureWebJobsStorage: appConnection,
    VIDEOCONTAINER: names.videoContainer,
    THUMBNAILCONTAINER: names.thumbnailContainer,
    THUMBNAIL_QUEUE: names.queueName,
    THUMBNAILER_LOG_LEVEL: 'warn',
    THUMBNAILER_TEMP_DIR: tempDir,
    THUMBNAILER_EVENTS_QUEUE: eventsQueue,
  });
  storage = await createStorage(testSettings(azurite.connectionString, names));
  await storage.ensure();
  for (const [name, fixture] of [
    ['clips/a.mp4', 'cityA'],
    ['clips/b.mp4', 'cityB'],
    ['clips/c.mp4', 'cityC'],
    ['clips/d.mp4', 'cityA'],
  ] as const) {
    await storage.blobs.uploadFile(names.videoContainer, name, await media(fixture), {
      contentType: 'video/mp4',
    });
  }

  host = new FakeFunctionsHost();
  host.install();
  await host.loadApp(script.root);
  await host.runHooks('appStart', script.root);
});

after(async () => {
  await host?.runHooks('appTerminate', script.root).catch(() => undefined);
  host?.uninstall();
  await proxy?.close();
  await azurite?.stop();
  await script?.remove();
  if (tempDir) await rm(tempDir, { recursive: true, force: true });
  process.env = savedEnv;
});

describe('the function app as the Functions host loads it', () => {
  test('registers a queue trigger on %THUMBNAIL_QUEUE% with the AzureWebJobsStorage connection', () => {
    const trigger = host.trigger(FUNCTION);
    assert.equal(trigger.type, 'queueTrigger');
    assert.equal(trigger.direction, 'in');
    assert.equal(trigger.queueName, '%THUMBNAIL_QUEUE%');
    assert.equal(trigger.connection, 'AzureWebJobsStorage');
  });

  test('registers POST /api/jobs with function-level authorization', () => {
    const trigger = host.trigger('jobs');
    assert.equal(trigger.type, 'httpTrigger');
    assert.equal(trigger.authLevel, 'function');
    assert.deepEqual(trigger.methods, ['POST']);
    assert.equal(trigger.route, 'jobs');
    assert.equal(host.get('jobs').metadata.bindings.$return?.type, 'http');
    assert.deepEqual([...host.functions.keys()].sort(), ['jobs', 'thumbnail']);
    assert.deepEqual([...host.hooks.keys()].sort(), ['appStart', 'appTerminate']);
  });
});

describe('queue messages as the host hands them over', () => {
  test('a plain blob name (a string) makes the outputs in Blob storage', async () => {
    await host.invoke(FUNCTION, { string: 'clips/a.mp4' }, meta('1', 'msg-a'));
    assert.ok(await blobExists(names.thumbnailContainer, 'clips/a.mp4/strip.jpg'));
    assert.ok(await blobExists(names.thumbnailContainer, 'clips/a.mp4/poster.jpg'));
    const manifest = JSON.parse(
      (await storage.blobs.readText(names.thumbnailContainer, 'clips/a.mp4/manifest.json'))!,
    ) as {
      input: { name: string };
      outputs: { file: string }[];
    };
    const files = manifest.outputs.map((o) => o.file);
    assert.ok(files.includes('strip.jpg') && files.includes('poster.jpg'), files.join(', '));
    const job = await storage.jobs.get('msg-a');
    assert.equal(job?.status, 'done');
    assert.equal(job?.attempts, 1);
    assert.ok(job?.outputs?.['strip.jpg']);
  });

  test('a JSON job arrives parsed; it is serialised back for the shared parser', async () => {
    const body = JSON.stringify({
      id: 'json-job-1',
      video: 'clips/b.mp4',
      options: { outputs: ['strip'], cols: 4, rows: 2 },
    });
    await host.invoke(FUNCTION, { json: body }, meta(1, 'msg-b'));
    const manifest = JSON.parse(
      (await storage.blobs.readText(names.thumbnailContainer, 'clips/b.mp4/manifest.json'))!,
    ) as {
      options: { cols: number; rows: number };
      outputs: { file: string }[];
    };
    assert.equal(manifest.options.cols, 4);
    assert.equal(manifest.options.rows, 2);
    assert.deepEqual(
      manifest.outputs.map((o) => o.file),
      ['strip.jpg'],
    );
    assert.ok(await blobExists(names.thumbnailContainer, 'clips/b.mp4/strip.jpg'));
    assert.equal((await storage.jobs.get('json-job-1'))?.status, 'done');
  });

  test('a base64 body (the SDKs default) is decoded; a finished video is acknowledged without work', async () => {
    const before = (await storage.blobs.getProperties(names.thumbnailContainer, 'clips/a.mp4/manifest.json'))
      .etag;
    await host.invoke(FUNCTION, { string: b64('clips/a.mp4') }, meta(1, 'msg-a-again'));
    const job = await storage.jobs.get('msg-a-again');
    assert.equal(job?.status, 'done');
    assert.equal(job?.skipped, true);
    assert.equal(
      (await storage.blobs.getProperties(names.thumbnailContainer, 'clips/a.mp4/manifest.json')).etag,
      before,
    );
  });

  test('an Event Grid event for a blob outside the videos container is acknowledged and ignored', async () => {
    const event = {
      id: 'evt-1',
      topic: '/subscriptions/x/resourceGroups/y/providers/Microsoft.Storage/storageAccounts/devstoreaccount1',
      subject: '/blobServices/default/containers/thumbnails/blobs/clips/a.mp4/strip.jpg',
      eventType: 'Microsoft.Storage.BlobCreated',
      data: {},
      dataVersion: '',
      eventTime: new Date().toISOString(),
    };
    const poisonBefore = (await poisonMessages()).length;
    await host.invoke(FUNCTION, { json: JSON.stringify(event) }, meta(1, 'msg-event'));
    assert.equal((await poisonMessages()).length, poisonBefore);
  });

  test('the host-side conversions: any trigger value becomes the text the parser reads', () => {
    assert.equal(messageText('clips/a.mp4'), 'clips/a.mp4');
    assert.equal(messageText({ video: 'a.mp4' }), '{"video":"a.mp4"}');
    assert.equal(messageText(12345), '12345');
    assert.equal(messageText(Buffer.from('x/y.mp4')), 'x/y.mp4');
    assert.equal(dequeueCountOf({ triggerMetadata: { dequeueCount: '3' } }), 3);
    assert.equal(dequeueCountOf({ triggerMetadata: { dequeueCount: 2 } }), 2);
    assert.equal(
      dequeueCountOf({ triggerMetadata: { dequeueCount: { low: 4, high: 0, unsigned: false } } }),
      4,
    );
    assert.equal(dequeueCountOf({ triggerMetadata: {} }), 1);
  });
});

describe('failures: transient ones are retried by the host, permanent ones are not', () => {
  test('a garbage message returns (no retry) and goes to the poison queue with the reason', async () => {
    await host.invoke(FUNCTION, { string: '../../etc/passwd' }, meta(1, 'msg-garbage'));
    const poisoned = (await poisonMessages()).find((m) => m.message === '../../etc/passwd');
    assert.ok(poisoned, 'the garbage message is in the poison queue');
    assert.equal((poisoned.error as { code: string }).code, 'E_MESSAGE_INVALID');
    assert.equal(poisoned.dequeueCount, 1);
  });

  test('a job for a missing blob is recorded as failed and poisoned on its first delivery', async () => {
    await host.invoke(
      FUNCTION,
      { json: JSON.stringify({ id: 'job-missing', video: 'clips/missing.mp4' }) },
      meta(1, 'msg-m'),
    );
    const job = await storage.jobs.get('job-missing');
    assert.equal(job?.status, 'failed');
    assert.equal(job?.error?.code, 'E_BLOB_NOT_FOUND');
    const poisoned = (await poisonMessages()).find((m) => m.jobId === 'job-missing');
    assert.equal((poisoned?.error as { code: string } | undefined)?.code, 'E_BLOB_NOT_FOUND');
  });

  test('jobs that end send their completion events to THUMBNAILER_EVENTS_QUEUE (created when missing)', async () => {
    const texts = await storage.queueNamed(eventsQueue).peek(32);
    const events = texts.map(
      (t) => JSON.parse(Buffer.from(t, 'base64').toString('utf8')) as Record<string, unknown>,
    );
    const completed = events.find((e) => (e.data as { jobId: string }).jobId === 'msg-a');
    assert.equal(completed?.type, 'video-thumbnailer.job.completed');
    assert.equal(completed?.subject, 'clips/a.mp4');
    assert.equal(completed?.specversion, '1.0');
    const failed = events.find((e) => (e.data as { jobId: string }).jobId === 'job-missing');
    assert.equal(failed?.type, 'video-thumbnailer.job.failed');
    assert.equal((failed?.data as { error: { code: string } }).error.code, 'E_BLOB_NOT_FOUND');
  });

  test('storage answering 503 makes the function throw, so the host redelivers; it recovers after', async () => {
    const job = JSON.stringify({ id: 'job-transient', video: 'clips/d.mp4' });
    proxy.failWhen = (req) => (req.url ?? '').includes(`/${names.videoContainer}/clips/d.mp4`);
    try {
      const failedBefore = proxy.failed;
      await assert.rejects(host.invoke(FUNCTION, { json: job }, meta(1, 'msg-t')), (error: unknown) => {
        assert.equal((error as { code?: string }).code, 'E_STORAGE_UNAVAILABLE');
        return true;
      });
      assert.ok(proxy.failed > failedBefore, 'the blob read really went through the failing proxy');
    } finally {
      proxy.failWhen = undefined;
    }
    const record = await storage.jobs.get('job-transient');
    assert.equal(record?.status, 'queued');
    assert.equal(record?.error?.code, 'E_STORAGE_UNAVAILABLE');
    assert.equal((await poisonMessages()).filter((m) => m.jobId === 'job-transient').length, 0);

    // The host's redelivery, once storage answers again.
    await host.invoke(FUNCTION, { json: job }, meta(2, 'msg-t'));
    const done = await storage.jobs.get('job-transient');
    assert.equal(done?.status, 'done');
    assert.equal(done?.attempts, 2);
    assert.ok(await blobExists(names.thumbnailContainer, 'clips/d.mp4/manifest.json'));
  });

  test('on the last delivery (maxDequeueCount) a transient failure is poisoned with its reason', async () => {
    const job = JSON.stringify({ id: 'job-last', video: 'clips/c.mp4' });
    proxy.failWhen = (req) => (req.url ?? '').includes(`/${names.videoContainer}/clips/c.mp4`);
    try {
      await host.invoke(FUNCTION, { json: job }, meta(5, 'msg-last'));
    } finally {
      proxy.failWhen = undefined;
    }
    const poisoned = (await poisonMessages()).find((m) => m.jobId === 'job-last');
    assert.equal((poisoned?.error as { code: string } | undefined)?.code, 'E_STORAGE_UNAVAILABLE');
    assert.equal(poisoned?.dequeueCount, 5);
    assert.equal((await storage.jobs.get('job-last'))?.status, 'failed');
    // Nothing is left behind in the temporary folder.
    assert.deepEqual(await readdir(tempDir), []);
  });
});

describe('POST /api/jobs', () => {
  const post = async (body: string) => {
    const { returnValue } = await host.invoke('jobs', {
      http: {
        method: 'POST',
        url: 'http://127.0.0.1:8080/api/jobs',
        headers: { 'content-type': 'application/json' },
        body: { string: body },
        query: {},
        params: {},
      },
    });
    return httpResponseOf(returnValue);
  };

  test('queues a valid JSON job (202), which the queue function then completes', async () => {
    const res = await post(
      JSON.stringify({ id: 'api-job-1', video: 'clips/c.mp4', options: { outputs: ['strip', 'poster'] } }),
    );
    assert.equal(res.status, 202);
    assert.deepEqual(
      { ...(res.body as Record<string, unknown>), createdAt: undefined, updatedAt: undefined },
      {
        id: 'api-job-1',
        video: 'clips/c.mp4',
        status: 'queued',
        progress: 0,
        attempts: 0,
        createdAt: undefined,
        updatedAt: undefined,
      },
    );
    assert.equal(res.headers.location, '/api/jobs/api-job-1');
    assert.equal((await storage.jobs.get('api-job-1'))?.status, 'queued');

    const raw = await storage.queue.peek(32);
    const queued = raw.find((t) => Buffer.from(t, 'base64').toString('utf8').includes('api-job-1'));
    assert.ok(queued, 'the job is in the queue, base64-encoded');
    assert.deepEqual(JSON.parse(Buffer.from(queued, 'base64').toString('utf8')), {
      id: 'api-job-1',
      video: 'clips/c.mp4',
      options: { outputs: ['strip', 'poster'] },
    });

    // messageEncoding "none": the host hands the body over as stored.
    await host.invoke(FUNCTION, { string: queued }, meta(1, 'msg-api'));
    assert.equal((await storage.jobs.get('api-job-1'))?.status, 'done');
    assert.ok(await blobExists(names.thumbnailContainer, 'clips/c.mp4/poster.jpg'));
  });

  test('refuses a bad option before queueing anything, naming the option', async () => {
    const res = await post(JSON.stringify({ video: 'clips/a.mp4', options: { rows: 0 } }));
    assert.equal(res.status, 400);
    const error = (res.body as { error: { code: string; message: string } }).error;
    assert.equal(error.code, 'E_OPTION_INVALID');
    assert.match(error.message, /rows/);
  });

  test('answers 404 for a video that does not exist and 400 for a body that is not a JSON job', async () => {
    const missing = await post(JSON.stringify({ video: 'clips/nope.mp4' }));
    assert.equal(missing.status, 404);
    assert.equal((missing.body as { error: { code: string } }).error.code, 'E_BLOB_NOT_FOUND');
    for (const body of ['clips/a.mp4', '{"video": 5}', '{not json']) {
      const res = await post(body);
      assert.equal(res.status, 400, body);
      assert.equal((res.body as { error: { code: string } }).error.code, 'E_MESSAGE_INVALID', body);
    }
  });
});

describe('host.json', () => {
  const hostJson = async () =>
    JSON.parse(await readFile(join(ROOT, 'host.json'), 'utf8')) as Record<string, unknown>;

  test('has the settings docs/azure.md explains', async () => {
    const h = (await hostJson()) as {
      version: string;
      extensionBundle: { id: string; version: string };
      functionTimeout: string;
      concurrency: { dynamicConcurrencyEnabled: boolean };
      extensions: { queues: Record<string, unknown>; http: { routePrefix: string } };
    };
    assert.equal(h.version, '2.0');
    assert.deepEqual(h.extensionBundle, {
      id: 'Microsoft.Azure.Functions.ExtensionBundle',
      version: '[4.*, 5.0.0)',
    });
    assert.equal(h.functionTimeout, '01:00:00');
    assert.equal(h.concurrency.dynamicConcurrencyEnabled, false);
    assert.deepEqual(h.extensions.queues, {
      maxDequeueCount: 5,
      visibilityTimeout: '00:01:00',
      batchSize: 1,
      newBatchThreshold: 0,
      maxPollingInterval: '00:00:10',
      messageEncoding: 'none',
    });
    assert.equal(h.extensions.http.routePrefix, 'api');
    const docs = await readFile(join(ROOT, 'docs', 'azure.md'), 'utf8');
    for (const [key, value] of Object.entries({
      ...h.extensions.queues,
      functionTimeout: h.functionTimeout,
    })) {
      assert.match(docs, new RegExp(`\`(extensions\\.queues\\.)?${key}\``), `docs/azure.md explains ${key}`);
      assert.ok(docs.includes(String(value)), `docs/azure.md gives ${key}'s value ${String(value)}`);
    }
  });

  test('agrees with the built-in worker: the same number of deliveries before the poison queue', async () => {
    const h = hostConfigFrom(await hostJson(), {});
    assert.equal(h.maxDequeueCount, loadSettings({}, {}).worker.maxDeliveries);
    // The function stops its job a minute before the host would, and well within the hour.
    assert.equal(h.functionTimeoutMs, 60 * 60_000);
  });

  test('time spans and app-setting overrides are read as the host reads them', () => {
    assert.equal(parseTimeSpan('00:10:00'), 600_000);
    assert.equal(parseTimeSpan('1.02:00:30.5'), ((24 + 2) * 3600 + 30) * 1000 + 500);
    assert.equal(parseTimeSpan('-1'), undefined);
    assert.throws(() => parseTimeSpan('10 minutes'));
    const overridden = hostConfigFrom(
      { functionTimeout: '00:05:00', extensions: { queues: { maxDequeueCount: 5 } } },
      {
        AzureFunctionsJobHost__functionTimeout: '-1',
        AzureFunctionsJobHost__extensions__queues__maxDequeueCount: '3',
      },
    );
    assert.deepEqual(overridden, { maxDequeueCount: 3, functionTimeoutMs: undefined });
    assert.deepEqual(hostConfigFrom({}, {}), { maxDequeueCount: 5, functionTimeoutMs: 30 * 60_000 });
  });
});
