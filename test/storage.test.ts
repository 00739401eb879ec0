import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import type { TableClient } from '@azure/data-tables';
import { classifyStorageError, storageError } from '../src/adapters/errors.js';
import { JobTable } from '../src/adapters/jobs.js';
import { createStorage, type Storage } from '../src/adapters/storage.js';
import { DEV_ACCOUNT_KEY, devConnectionString, loadSettings } from '../src/config.js';
import { ThumbnailerError } from '../src/errors.js';
import { createLogger } from '../src/logger.js';
import { startAzurite, type StorageNames, type TestAzurite } from './support/azurite.js';
import { media } from './support/media.js';
import { testSettings } from './support/worker.js';

let azurite: TestAzurite;
let storage: Storage;
let names: StorageNames;

before(async () => {
  azurite = await startAzurite();
  names = azurite.names('storage');
  storage = await createStorage(testSettings(azurite.connectionString, names));
});

after(async () => {
  await azurite?.stop();
});

describe('storage adapters on Azurite', () => {
  test('ensure() creates containers, queue, poison queue and table, and is idempotent', async () => {
    await storage.ensure();
    await storage.ensure();
    const containers: string[] = [];
    for await (const c of storage.blobs.service.listContainers({ prefix: 'storage-' }))
      containers.push(c.name);
    assert.deepEqual(containers.sort(), [names.thumbnailContainer, names.videoContainer]);
    assert.equal(await storage.queue.depth(), 0);
    assert.equal(storage.poison.name, `${names.queueName}-poison`);
    assert.equal(await storage.poison.depth(), 0);
    assert.equal(await storage.jobs.get('nothing'), undefined);
    await storage.ping();
  });

  test('a video is read by byte ranges through the SDK, every byte counted', async () => {
    const path = await media('cityA');
    const bytes = await readFile(path);
    await storage.blobs.uploadFile(names.videoContainer, 'ranged/a.mp4', path);
    let reported = 0;
    const source = await storage.blobs.openVideo(names.videoContainer, 'ranged/a.mp4', {
      onBytesRead: (n) => (reported += n),
    });
    assert.equal(source.size, bytes.length);
    assert.ok(source.etag);
    const head = await source.read(0, 4096);
    assert.ok(Buffer.from(head).equals(bytes.subarray(0, 4096)));
    const tail = await source.read(bytes.length - 100, bytes.length + 50); // clamped to the end
    assert.ok(Buffer.from(tail).equals(bytes.subarray(bytes.length - 100)));
    assert.equal((await source.read(10, 10)).length, 0);
    assert.equal(source.bytesRead(), 4196);
    assert.equal(reported, 4196);

    // The source is pinned to its ETag: a replaced blob fails the read (transient: redelivery rereads).
    await storage.blobs.uploadFile(names.videoContainer, 'ranged/a.mp4', await media('cityB'));
    await assert.rejects(
      source.read(0, 10),
      (e: unknown) => ThumbnailerError.is(e) && e.code === 'E_STORAGE_UNAVAILABLE',
    );
  });

  test('a missing blob is E_BLOB_NOT_FOUND (permanent); readText of a missing blob is undefined', async () => {
    await assert.rejects(
      storage.blobs.openVideo(names.videoContainer, 'nope.mp4'),
      (e: unknown) =>
        ThumbnailerError.is(e) &&
        e.code === 'E_BLOB_NOT_FOUND' &&
        e.permanent &&
        e.message.includes(`${names.videoContainer}/nope.mp4`),
    );
    assert.equal(await storage.blobs.readText(names.thumbnailContainer, 'nope/manifest.json'), undefined);
    await storage.blobs.delete(names.thumbnailContainer, 'nope/manifest.json'); // already gone is fine
  });

  test('SAS URLs are read-only and short-lived', async () => {
    await storage.blobs.uploadText(names.videoContainer, 'sas/x.txt', 'hello');
    const url = await storage.blobs.readSasUrl(names.videoContainer, 'sas/x.txt');
    const query = new URL(url).searchParams;
    assert.equal(query.get('sp'), 'r');
    const lifetime = new Date(query.get('se')!).getTime() - Date.now();
    assert.ok(lifetime > 10 * 60_000 && lifetime <= 15 * 60_000 + 1000, `expires in ${lifetime} ms`);
    const get = await fetch(url);
    assert.equal(get.status, 200);
    assert.equal(await get.text(), 'hello');
    const put = await fetch(url, {
      method: 'PUT',
      body: 'overwrite',
      headers: { 'x-ms-blob-type': 'BlockBlob' },
    });
    assert.equal(put.status, 403);
    const del = await fetch(url, { method: 'DELETE' });
    assert.equal(del.status, 403);
  });

  test('queue: send, receive, renew visibility, delete', async () => {
    await storage.queue.send('plain', { base64: false });
    await storage.queue.send('encoded');
    const got = await storage.queue.receive(2, 30);
    assert.equal(got.length, 2);
    assert.deepEqual(got.map((m) => m.text).sort(), ['ZW5jb2RlZA==', 'plain']);
    const m = got[0]!;
    assert.equal(m.dequeueCount, 1);
    const receipt = await storage.queue.setVisibility(m.id, m.popReceipt, 30);
    assert.notEqual(receipt, m.popReceipt);
    // The old receipt no longer works; deleting a gone message is fine.
    await assert.rejects(storage.queue.setVisibility(m.id, m.popReceipt, 30));
    await storage.queue.delete(m.id, receipt);
    await storage.queue.delete(m.id, receipt);
    await storage.queue.delete(got[1]!.id, got[1]!.popReceipt);
    assert.equal(await storage.queue.depth(), 0);
  });

  test('job table: records merge; claims exclude other owners until they expire', async () => {
    await storage.jobs.update('j1', {
      video: 'a.mp4',
      status: 'queued',
      progress: 0,
      attempts: 0,
      createdAt: 'now',
    });
    await storage.jobs.update('j1', { status: 'running', progress: 0.5, attempts: 1 });
    await storage.jobs.update('j1', {
      status: 'done',
      progress: 1,
      outputs: { 'strip.jpg': 'http://x/strip.jpg' },
      error: undefined,
    });
    const j = await storage.jobs.get('j1');
    assert.deepEqual(
      [j?.video, j?.status, j?.progress, j?.attempts, j?.createdAt],
      ['a.mp4', 'done', 1, 1, 'now'],
    );
    assert.deepEqual(j?.outputs, { 'strip.jpg': 'http://x/strip.jpg' });
    assert.equal(j?.error, undefined);
    assert.ok((await storage.jobs.list()).some((r) => r.id === 'j1'));

    const video = 'claims/v.mp4';
    assert.deepEqual(await storage.jobs.claimVideo(video, { owner: 'm1', key: 'k' }, 60_000), { ok: true });
    const other = await storage.jobs.claimVideo(video, { owner: 'm2', key: 'k' }, 60_000);
    assert.equal(other.ok, false);
    assert.equal(!other.ok && other.holder.owner, 'm1');
    // The same message redelivered takes its own claim over.
    assert.deepEqual(await storage.jobs.claimVideo(video, { owner: 'm1', key: 'k' }, 60_000), { ok: true });
    assert.equal(await storage.jobs.renewClaim(video, 'm2', 60_000), false);
    assert.equal(await storage.jobs.renewClaim(video, 'm1', 1), true); // expires at once
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(await storage.jobs.claimVideo(video, { owner: 'm2', key: 'k2' }, 60_000), { ok: true });
    await storage.jobs.releaseClaim(video, 'm1'); // not ours any more: no effect
    assert.equal((await storage.jobs.claimVideo(video, { owner: 'm3', key: 'k' }, 60_000)).ok, false);
    await storage.jobs.releaseClaim(video, 'm2');
    assert.equal((await storage.jobs.claimVideo(video, { owner: 'm3', key: 'k' }, 60_000)).ok, true);
  });

  test('unreachable storage is a transient E_STORAGE_UNAVAILABLE, quickly', async () => {
    const { freePort } = await import('../src/adapters/emulator.js');
    const port = await freePort();
    const down = await createStorage(
      testSettings(devConnectionString({ blob: port, queue: port, table: port })),
    );
    const t0 = Date.now();
    await assert.rejects(down.queue.depth(), (e: unknown) => {
      assert.ok(ThumbnailerError.is(e));
      assert.equal(e.code, 'E_STORAGE_UNAVAILABLE');
      assert.equal(e.permanent, false);
      assert.doesNotMatch(e.message, new RegExp(DEV_ACCOUNT_KEY.slice(0, 20)));
      return true;
    });
    assert.ok(Date.now() - t0 < 15_000);
  });
});

describe('storage failure classification', () => {
  test('statuses and network errors map to a verdict', () => {
    const rest = (statusCode?: number, code?: string) =>
      Object.assign(new Error('x'), { name: 'RestError', statusCode, code });
    assert.equal(classifyStorageError(rest(404, 'BlobNotFound')), 'not-found');
    for (const s of [408, 429, 500, 503, 401, 403, 409, 412])
      assert.equal(classifyStorageError(rest(s)), 'transient', String(s));
    for (const s of [400, 413, 416]) assert.equal(classifyStorageError(rest(s)), 'permanent', String(s));
    assert.equal(classifyStorageError(rest(undefined, 'ECONNREFUSED')), 'transient');
    assert.equal(classifyStorageError(Object.assign(new Error('x'), { code: 'ETIMEDOUT' })), 'transient');
    assert.equal(storageError(rest(400), 'x').code, 'E_STORAGE_REFUSED');
    assert.equal(storageError(rest(400), 'x').permanent, true);
  });

  test('a claim that loses every race fails with the service’s own conflict, classified transient', async () => {
    // Five lost races in a row cannot be staged against a real table: the table service's answers
    // (no claim yet, then 409 on every create) stand in at the SDK boundary.
    let creates = 0;
    const contended = {
      getEntity: () => Promise.reject(Object.assign(new Error('nope'), { statusCode: 404 })),
      createEntity: () => {
        creates++;
        return Promise.reject(
          Object.assign(new Error('The specified entity already exists.'), {
            name: 'RestError',
            statusCode: 409,
            code: 'EntityAlreadyExists',
          }),
        );
      },
    } as unknown as TableClient;
    await assert.rejects(
      new JobTable(contended).claimVideo('a.mp4', { owner: 'm1', key: 'k' }, 10_000),
      (e: unknown) =>
        ThumbnailerError.is(e) &&
        e.code === 'E_STORAGE_UNAVAILABLE' &&
        /claiming video a\.mp4 \(contended\) \(409 EntityAlreadyExists\)/.test(e.message),
    );
    assert.equal(creates, 5, 'five rounds before giving up');
  });

  test('messages never carry signatures or keys', () => {
    const e = storageError(
      Object.assign(
        new Error(
          'GET https://a.blob.core.windows.net/v/x?sv=2020&sig=SECRETSIG failed; AccountKey=SECRETKEY',
        ),
        {
          name: 'RestError',
          statusCode: 500,
        },
      ),
      'reading',
    );
    assert.doesNotMatch(e.message, /SECRETSIG|SECRETKEY/);
  });
});

describe('settings and logs', () => {
  test('defaults, flags over environment, identity-based connection', () => {
    const d = loadSettings({}, {});
    assert.deepEqual(
      [
        d.storage,
        d.videoContainer,
        d.thumbnailContainer,
        d.queueName,
        d.poisonQueueName,
        d.jobsTable,
        d.port,
        d.host,
      ],
      [
        undefined,
        'videos',
        'thumbnails',
        'thumbnail-requests',
        'thumbnail-requests-poison',
        'thumbnailjobs',
        7071,
        '127.0.0.1',
      ],
    );
    assert.equal(d.worker.maxDeliveries, 5);
    const env = {
      AzureWebJobsStorage: 'UseDevelopmentStorage=true',
      THUMBNAIL_QUEUE: 'q-env',
      THUMBNAILER_CONCURRENCY: '3',
    };
    const f = loadSettings({ queueName: 'q-flag' }, env);
    assert.deepEqual([f.storage?.kind, f.queueName, f.worker.concurrency], ['connectionString', 'q-flag', 3]);
    const id = loadSettings({}, { AzureWebJobsStorage__accountName: 'myacct' });
    assert.deepEqual(id.storage, {
      kind: 'identity',
      accountName: 'myacct',
      blobServiceUri: 'https://myacct.blob.core.windows.net',
      queueServiceUri: 'https://myacct.queue.core.windows.net',
      tableServiceUri: 'https://myacct.table.core.windows.net',
    });
    assert.throws(
      () => loadSettings({}, { VIDEOCONTAINER: 'Bad_Name' }),
      (e: unknown) =>
        ThumbnailerError.is(e) && e.code === 'E_OPTION_INVALID' && /VIDEOCONTAINER/.test(e.message),
    );
    assert.throws(() => loadSettings({}, { THUMBNAILER_PORT: 'abc' }), /THUMBNAILER_PORT/);
    assert.throws(() => loadSettings({}, { THUMBNAILCONTAINER: 'videos' }), /must differ/);
  });

  test('UseDevelopmentStorage=true reaches the emulator', async () => {
    const s = await createStorage(testSettings('UseDevelopmentStorage=true'));
    assert.equal(s.accountName, 'devstoreaccount1');
    assert.equal(s.blobs.endpoint, 'http://127.0.0.1:10000/devstoreaccount1/');
  });

  test('log lines never contain keys, signatures or connection strings', () => {
    let out = '';
    const destination = new Writable({
      write(chunk: Buffer, _e, cb) {
        out += chunk.toString();
        cb();
      },
    });
    const logger = createLogger({ destination });
    const cs = devConnectionString();
    logger.info(
      { connectionString: cs, url: 'https://a.blob.core.windows.net/v/x.mp4?sv=1&sig=SIGSECRET' },
      `using ${cs}`,
    );
    logger.error({ err: new Error(`failed for https://a/b?sig=SIGSECRET2 with ${cs}`) }, 'boom');
    assert.doesNotMatch(out, /SIGSECRET|Eby8vdM02xNO/);
    assert.match(out, /x\.mp4\?sv=REDACTED&sig=REDACTED/);
    assert.match(out, /"message":"failed for https:\/\/a\/b\?sig=REDACTED/);
  });
});
