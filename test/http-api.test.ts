import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import type { JobRecord } from '../src/adapters/jobs.js';
import { startAzurite, type TestAzurite } from './support/azurite.js';
import { readEvents, startApiService, type ApiService } from './support/http.js';
import { imageSize } from './support/images.js';
import { media } from './support/media.js';
import { waitFor } from './support/worker.js';

let azurite: TestAzurite;
let service: ApiService;
let base: string;
let video: Buffer;
let scratch: string;

/** The video every read test uses, uploaded once and made by the worker. */
const NAME = 'clips/city a.mp4';
const enc = encodeURIComponent;
/** An output of the video every read test uses, as a path for service.fetch. */
const out = (file: string) => `/api/videos/${enc(NAME)}/outputs/${file}`;
let uploaded: JobRecord;

interface ErrorJson {
  error: { code: string; message: string; field?: string };
}

async function json<T>(res: Response): Promise<T> {
  return (await res.json()) as T;
}

async function expectError(res: Response, status: number, code: string, field?: string): Promise<ErrorJson> {
  const body = await json<ErrorJson>(res);
  assert.equal(res.status, status, JSON.stringify(body));
  assert.equal(body.error.code, code, JSON.stringify(body));
  assert.equal(typeof body.error.message, 'string');
  if (field) assert.equal(body.error.field, field, JSON.stringify(body));
  return body;
}

async function waitDone(id: string): Promise<JobRecord> {
  return waitFor(`job ${id} to end`, async () => {
    const job = await json<JobRecord>(await service.fetch(`/api/jobs/${enc(id)}`));
    return job.status === 'done' || job.status === 'failed' ? job : undefined;
  });
}

before(async () => {
  azurite = await startAzurite();
  service = await startApiService(azurite, { settings: { maxUploadBytes: 1_000_000 } });
  // A real socket for what needs one: event streams, a streamed upload, ranges through a client.
  base = await service.listen();
  video = await readFile(await media('cityA'));
  scratch = await mkdtemp(join(tmpdir(), 'thumbnailer-http-'));
});
after(async () => {
  await service?.close();
  await azurite?.stop();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

describe('POST /api/videos and job events', () => {
  test('streams the upload into Blob storage, queues a job and follows it with ordered events', async () => {
    const res = await service.fetch(`/api/videos?name=${enc(NAME)}`, {
      method: 'POST',
      headers: { 'content-type': 'video/mp4' },
      body: new Uint8Array(video),
    });
    const job = await json<JobRecord>(res);
    assert.equal(res.status, 202, JSON.stringify(job));
    assert.equal(job.video, NAME);
    assert.equal(job.status, 'queued');
    assert.match(job.id, /^[0-9a-f-]{36}$/);
    assert.equal(res.headers.get('location'), `/api/jobs/${job.id}`);
    const props = await service.storage.blobs.getProperties(service.settings.videoContainer, NAME);
    assert.equal(props.size, video.length);
    assert.equal(props.contentType, 'video/mp4');

    const events = await readEvents(`${base}/api/jobs/${job.id}/events`);
    assert.ok(events.length >= 2, JSON.stringify(events));
    const ids = events.map((e) => Number(e.id));
    assert.deepEqual(
      ids,
      ids.map((_, i) => i + 1),
      'event ids count up from 1',
    );
    const last = events.at(-1)!;
    assert.equal(last.event, 'done', JSON.stringify(events.map((e) => e.data)));
    assert.ok(events.slice(0, -1).every((e) => e.event === 'progress'));
    const states = events.map((e) => JSON.parse(e.data) as JobRecord);
    assert.ok(states.every((s) => s.id === job.id));
    // Within an attempt, progress never goes back; status moves forward only.
    const rank = { queued: 0, running: 1, done: 2, failed: 2 } as const;
    for (let i = 1; i < states.length; i++) {
      const [a, b] = [states[i - 1]!, states[i]!];
      assert.ok(rank[b.status] >= rank[a.status], `${a.status} -> ${b.status}`);
      if (a.status === b.status) assert.ok(b.progress >= a.progress, `${a.progress} -> ${b.progress}`);
    }
    assert.ok(
      states.some((s) => s.status === 'running'),
      'a running event came before the end',
    );
    const final = states.at(-1)!;
    assert.equal(final.progress, 1);
    assert.ok(final.outputs?.['strip.jpg'] && final.outputs['manifest.json']);
    uploaded = final;

    // The stream of a finished job sends its end at once, then closes.
    const again = await readEvents(`${base}/api/jobs/${job.id}/events`, {}, 10_000);
    assert.deepEqual(
      again.map((e) => e.event),
      ['done'],
    );
  });

  test('refuses an oversized upload by Content-Length: 413, nothing stored, no job', async () => {
    const before = (await json<{ jobs: JobRecord[] }>(await service.fetch(`/api/jobs`))).jobs.length;
    const res = await service.app.inject({
      method: 'POST',
      url: `/api/videos?name=big.mp4`,
      headers: { 'content-type': 'video/mp4' },
      payload: Buffer.alloc(1_000_001),
    });
    assert.equal(res.statusCode, 413);
    assert.equal(res.json<ErrorJson>().error.code, 'E_LIMIT_EXCEEDED');
    assert.match(res.json<ErrorJson>().error.message, /limit/);
    await assert.rejects(
      service.storage.blobs.getProperties(service.settings.videoContainer, 'big.mp4'),
      /does not exist/,
    );
    const after = (await json<{ jobs: JobRecord[] }>(await service.fetch(`/api/jobs`))).jobs.length;
    assert.equal(after, before);
  });

  test('refuses an oversized streamed upload (no Content-Length) past the cap: 413, nothing stored', async () => {
    let sent = 0;
    const body = new Readable({
      read() {
        if (sent >= 3_000_000) return this.push(null);
        sent += 64 * 1024;
        this.push(Buffer.alloc(64 * 1024, 7));
      },
    });
    const res = await fetch(`${base}/api/videos?name=${enc('streamed/big.mp4')}`, {
      method: 'POST',
      headers: { 'content-type': 'video/mp4' },
      body: Readable.toWeb(body) as ReadableStream,
      duplex: 'half',
    } as RequestInit);
    await expectError(res, 413, 'E_LIMIT_EXCEEDED');
    await assert.rejects(
      service.storage.blobs.getProperties(service.settings.videoContainer, 'streamed/big.mp4'),
      /does not exist/,
    );
  });

  test('an oversized upload over an existing video leaves that video as it was', async () => {
    const res = await service.app.inject({
      method: 'POST',
      url: `/api/videos?name=${enc(NAME)}`,
      payload: Readable.from([Buffer.alloc(600_000), Buffer.alloc(600_000)]),
    });
    assert.equal(res.statusCode, 413);
    const props = await service.storage.blobs.getProperties(service.settings.videoContainer, NAME);
    assert.equal(props.size, video.length);
  });

  test('validates the name (400 naming it) and refuses an empty body', async () => {
    await expectError(
      await service.fetch(`/api/videos`, { method: 'POST', body: 'x' }),
      400,
      'E_OPTION_INVALID',
      'name',
    );
    for (const bad of ['../x.mp4', 'a//b.mp4', '/abs.mp4', 'trailing/']) {
      await expectError(
        await service.fetch(`/api/videos?name=${enc(bad)}`, { method: 'POST', body: 'x' }),
        400,
        'E_OPTION_INVALID',
        'name',
      );
    }
    await expectError(
      await service.fetch(`/api/videos?name=empty.mp4`, { method: 'POST', body: '' }),
      422,
      'E_INPUT_EMPTY',
    );
  });
});

describe('jobs', () => {
  test('POST /api/jobs queues a JSON job for a stored video; GET lists and reads it', async () => {
    const res = await service.fetch(`/api/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'api-job-1', video: NAME, options: { storyboardInterval: 1, rows: 2 } }),
    });
    const job = await json<JobRecord>(res);
    assert.equal(res.status, 202, JSON.stringify(job));
    assert.deepEqual([job.id, job.video, job.status, job.progress], ['api-job-1', NAME, 'queued', 0]);
    const done = await waitDone('api-job-1');
    assert.equal(done.status, 'done', JSON.stringify(done));
    assert.equal(done.attempts, 1);

    const list = await json<{ jobs: JobRecord[] }>(await service.fetch(`/api/jobs?limit=10`));
    assert.ok(list.jobs.some((j) => j.id === 'api-job-1'));
    const filtered = await json<{ jobs: JobRecord[] }>(
      await service.fetch(`/api/jobs?status=done&video=${enc(NAME)}`),
    );
    assert.ok(
      filtered.jobs.length >= 2 && filtered.jobs.every((j) => j.status === 'done' && j.video === NAME),
    );
  });

  test('a JSON job with tracks, widths, BIF and a poster time: listed, served with their own types', async () => {
    const options = {
      // The strip too: the tests after this one read the video's outputs.
      outputs: ['strip', 'poster', 'storyboard', 'bif'],
      storyboardWidths: [160, 320],
      storyboardTracks: ['vtt', 'hls', 'dash'],
      bifInterval: 1,
      posterTime: 2,
    };
    const res = await service.fetch(`/api/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'api-tracks', video: NAME, options }),
    });
    assert.equal(res.status, 202, await res.text());
    const done = await waitDone('api-tracks');
    assert.equal(done.status, 'done', JSON.stringify(done));
    const manifest = await json<{ options: typeof options; outputs: { kind: string; file: string }[] }>(
      await service.fetch(out('manifest.json')),
    );
    assert.deepEqual(manifest.options.storyboardWidths, [160, 320]);
    const kinds = manifest.outputs.map((o) => `${o.kind}:${o.file}`);
    for (const [file, type] of [
      ['storyboard.m3u8', 'application/vnd.apple.mpegurl'],
      ['storyboard-320w.m3u8', 'application/vnd.apple.mpegurl'],
      ['storyboard.mpd', 'application/dash+xml'],
      ['storyboard-320w.vtt', 'text/vtt; charset=utf-8'],
      ['storyboard-320w.jpg', 'image/jpeg'],
      ['preview.bif', 'application/octet-stream'],
    ] as const) {
      assert.ok(
        kinds.some((k) => k.endsWith(`:${file}`)),
        `${file} in the manifest: ${kinds.join(' ')}`,
      );
      const served = await service.fetch(out(file));
      assert.equal(served.status, 200, file);
      assert.equal(served.headers.get('content-type'), type, file);
      assert.equal(served.headers.get('x-content-type-options'), 'nosniff', file);
      const bytes = Buffer.from(await served.arrayBuffer());
      if (file.endsWith('.bif')) assert.equal(bytes.subarray(0, 4).toString('latin1'), '\x89BIF');
      if (file.endsWith('.m3u8')) assert.match(bytes.toString(), /^#EXTM3U\n[\s\S]*#EXT-X-IMAGES-ONLY/);
    }
  });

  test('a blob URL of the account is accepted as the video', async () => {
    const url = service.storage.blobs.url(service.settings.videoContainer, NAME);
    const res = await service.fetch(`/api/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ video: url }),
    });
    const job = await json<JobRecord>(res);
    assert.equal(res.status, 202, JSON.stringify(job));
    assert.equal(job.video, NAME);
    assert.equal((await waitDone(job.id)).status, 'done');
  });

  test('validation errors name the field; unknown ids and videos are 404', async () => {
    const post = (body: unknown) =>
      service.fetch(`/api/jobs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    await expectError(await post({}), 400, 'E_OPTION_INVALID', 'video');
    await expectError(await post({ video: 'a/../b.mp4' }), 400, 'E_OPTION_INVALID', 'video');
    await expectError(
      await post({ video: 'https://elsewhere.example/videos/x.mp4' }),
      400,
      'E_OPTION_INVALID',
      'video',
    );
    await expectError(
      await post({ video: NAME, options: { rows: 0 } }),
      400,
      'E_OPTION_INVALID',
      'options.rows',
    );
    await expectError(
      await post({ video: NAME, options: { bogus: 1 } }),
      400,
      'E_OPTION_INVALID',
      'options.bogus',
    );
    await expectError(await post({ video: NAME, extra: 1 }), 400, 'E_OPTION_INVALID', 'extra');
    // The new options are strict too: no string for a number or a list, no webp BIF.
    for (const [options, field] of [
      [{ bifInterval: '10' }, 'options.bifInterval'],
      [{ posterTime: '3' }, 'options.posterTime'],
      [{ posterTime: -1 }, 'options.posterTime'],
      [{ storyboardWidths: '160,320' }, 'options.storyboardWidths'],
      [{ storyboardWidths: [160, '320'] }, 'options.storyboardWidths.1'],
      [{ storyboardTracks: ['hls', 'mss'] }, 'options.storyboardTracks.1'],
      [{ outputs: ['bif'], format: 'webp' }, 'options.format'],
    ] as const) {
      await expectError(await post({ video: NAME, options }), 400, 'E_OPTION_INVALID', field);
    }
    await expectError(await post({ video: NAME, id: 'no spaces' }), 400, 'E_OPTION_INVALID', 'id');
    await expectError(await post({ video: 'missing.mp4' }), 404, 'E_BLOB_NOT_FOUND');
    const malformed = await service.fetch(`/api/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"video":',
    });
    await expectError(malformed, 400, 'E_OPTION_INVALID');

    await expectError(await service.fetch(`/api/jobs/nope`), 404, 'E_NOT_FOUND');
    await expectError(await service.fetch(`/api/jobs/nope/events`), 404, 'E_NOT_FOUND');
    await expectError(await service.fetch(`/api/jobs/${enc('bad id')}`), 400, 'E_OPTION_INVALID', 'id');
    await expectError(await service.fetch(`/api/jobs?limit=0`), 400, 'E_OPTION_INVALID', 'limit');
    await expectError(await service.fetch(`/api/jobs?status=lost`), 400, 'E_OPTION_INVALID', 'status');
    await expectError(await service.fetch(`/api/nothing-here`), 404, 'E_NOT_FOUND');
  });

  test('a failing job ends its event stream with a failed event and the reason', async () => {
    await service.storage.blobs.uploadText(
      service.settings.videoContainer,
      'not-a-video.mp4',
      'hello, world',
    );
    const res = await service.fetch(`/api/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'bad-input', video: 'not-a-video.mp4' }),
    });
    assert.equal(res.status, 202);
    const events = await readEvents(`${base}/api/jobs/bad-input/events`);
    const last = events.at(-1)!;
    assert.equal(last.event, 'failed');
    const job = JSON.parse(last.data) as JobRecord;
    assert.equal(job.status, 'failed');
    assert.ok(job.error?.code.startsWith('E_'), JSON.stringify(job));
    assert.equal(job.attempts, 1);
  });
});

describe('outputs, source and frames', () => {
  const src = () => `${base}/api/videos/${enc(NAME)}/source`;

  test('serves output files with ETag and 304; unknown files 404; bad names 400', async () => {
    assert.ok(uploaded, 'the upload test ran first');
    const strip = await service.fetch(out('strip.jpg'));
    assert.equal(strip.status, 200);
    assert.equal(strip.headers.get('content-type'), 'image/jpeg');
    assert.equal(strip.headers.get('accept-ranges'), 'bytes');
    const etag = strip.headers.get('etag')!;
    assert.ok(etag);
    const bytes = Buffer.from(await strip.arrayBuffer());
    assert.deepEqual([...bytes.subarray(0, 2)], [0xff, 0xd8]);
    const again = await service.fetch(out('strip.jpg'), { headers: { 'if-none-match': etag } });
    assert.equal(again.status, 304);
    const vtt = await service.fetch(out('storyboard.vtt'));
    assert.equal(vtt.status, 200);
    assert.match(await vtt.text(), /^WEBVTT/);
    const manifest = await json<{ input: { duration: number } }>(await service.fetch(out('manifest.json')));
    assert.ok(manifest.input.duration > 3);

    await expectError(await service.fetch(out('nope.jpg')), 404, 'E_BLOB_NOT_FOUND');
    await expectError(await service.fetch(out(enc('a/b.jpg'))), 400, 'E_OPTION_INVALID', 'file');
    await expectError(await service.fetch(out('.hidden')), 400, 'E_OPTION_INVALID', 'file');
    await expectError(
      await service.fetch(`/api/videos/${enc('a/../b')}/outputs/strip.jpg`),
      400,
      'E_OPTION_INVALID',
      'name',
    );
  });

  test('serves the source video with HTTP ranges (206, Content-Range, 416)', async () => {
    const size = video.length;
    const full = await fetch(src());
    assert.equal(full.status, 200);
    assert.equal(full.headers.get('accept-ranges'), 'bytes');
    assert.equal(full.headers.get('content-length'), String(size));
    assert.ok(Buffer.from(await full.arrayBuffer()).equals(video));

    const cases: [string, number, number][] = [
      ['bytes=0-99', 0, 99],
      ['bytes=1000-', 1000, size - 1],
      ['bytes=-500', size - 500, size - 1],
      [`bytes=100-${size + 1000}`, 100, size - 1],
    ];
    for (const [range, start, end] of cases) {
      const res = await fetch(src(), { headers: { range } });
      assert.equal(res.status, 206, range);
      assert.equal(res.headers.get('content-range'), `bytes ${start}-${end}/${size}`, range);
      assert.equal(res.headers.get('content-length'), String(end - start + 1), range);
      assert.ok(Buffer.from(await res.arrayBuffer()).equals(video.subarray(start, end + 1)), range);
    }
    const unsatisfiable = await fetch(src(), { headers: { range: `bytes=${size}-` } });
    assert.equal(unsatisfiable.headers.get('content-range'), `bytes */${size}`);
    await expectError(unsatisfiable, 416, 'E_RANGE_NOT_SATISFIABLE');
    // If-Range with another version: the whole file.
    const stale = await fetch(src(), { headers: { range: 'bytes=0-9', 'if-range': '"old"' } });
    assert.equal(stale.status, 200);
    await stale.arrayBuffer();
    const head = await fetch(src(), { method: 'HEAD', headers: { range: 'bytes=0-9' } });
    assert.equal(head.status, 206);
    assert.equal(head.headers.get('content-length'), '10');
    await expectError(await fetch(`${base}/api/videos/missing.mp4/source`), 404, 'E_BLOB_NOT_FOUND');
  });

  test('makes frames on demand (jpg and webp) at the asked width, with ETag and 304', async () => {
    const url = (q: string, format = 'jpg') => `/api/videos/${enc(NAME)}/frame.${format}?${q}`;
    const res = await service.fetch(url('time=2.5&width=160'));
    assert.equal(res.status, 200, await res.clone().text());
    assert.equal(res.headers.get('content-type'), 'image/jpeg');
    const etag = res.headers.get('etag')!;
    assert.match(etag, /^"[\w-]{27}"$/);
    assert.match(res.headers.get('cache-control')!, /max-age/);
    assert.ok(Number(res.headers.get('x-frame-time')) <= 2.5);
    const file = join(scratch, 'frame.jpg');
    await writeFile(file, Buffer.from(await res.arrayBuffer()));
    assert.deepEqual(await imageSize(file), { width: 160, height: 90 });

    const cached = await service.fetch(url('time=2.5&width=160'), { headers: { 'if-none-match': etag } });
    assert.equal(cached.status, 304);
    assert.equal(cached.headers.get('etag'), etag);
    const other = await service.fetch(url('time=2.5&width=320'));
    assert.notEqual(other.headers.get('etag'), etag);
    await other.arrayBuffer();

    const exact = await service.fetch(url('time=1.23&width=320&mode=accurate'));
    assert.equal(exact.status, 200);
    assert.ok(Math.abs(Number(exact.headers.get('x-frame-time')) - 1.23) < 0.05);
    await exact.arrayBuffer();

    const webp = await service.fetch(url('time=0&width=64', 'webp'));
    assert.equal(webp.status, 200);
    assert.equal(webp.headers.get('content-type'), 'image/webp');
    const webpFile = join(scratch, 'frame.webp');
    await writeFile(webpFile, Buffer.from(await webp.arrayBuffer()));
    assert.equal((await imageSize(webpFile)).width, 64);
  });

  test('frame parameters are validated and named', async () => {
    const url = (q: string, name = NAME) => `/api/videos/${enc(name)}/frame.jpg?${q}`;
    await expectError(await service.fetch(url('width=160')), 400, 'E_OPTION_INVALID', 'time');
    await expectError(await service.fetch(url('time=abc')), 400, 'E_OPTION_INVALID', 'time');
    await expectError(await service.fetch(url('time=-1')), 400, 'E_OPTION_INVALID', 'time');
    await expectError(await service.fetch(url('time=99')), 400, 'E_OPTION_INVALID', 'time');
    await expectError(await service.fetch(url('time=1&width=8')), 400, 'E_OPTION_INVALID', 'width');
    await expectError(await service.fetch(url('time=1&width=4000')), 400, 'E_OPTION_INVALID', 'width');
    await expectError(await service.fetch(url('time=1&mode=slow')), 400, 'E_OPTION_INVALID', 'mode');
    await expectError(await service.fetch(url('time=1', 'missing.mp4')), 404, 'E_BLOB_NOT_FOUND');
    await expectError(await service.fetch(url('time=1', 'not-a-video.mp4')), 422, 'E_NOT_A_VIDEO');
  });
});

describe('OpenAPI, dashboard, health', () => {
  test('GET /api/openapi.json documents every route from the schemas', async () => {
    const res = await service.fetch(`/api/openapi.json`);
    assert.equal(res.status, 200);
    const doc = await json<{ openapi: string; paths: Record<string, Record<string, unknown>> }>(res);
    assert.match(doc.openapi, /^3\./);
    for (const [path, method] of [
      ['/api/videos', 'post'],
      ['/api/jobs', 'post'],
      ['/api/jobs', 'get'],
      ['/api/jobs/{id}', 'get'],
      ['/api/jobs/{id}/events', 'get'],
      ['/api/videos/{name}/frame.jpg', 'get'],
      ['/api/videos/{name}/frame.webp', 'get'],
      ['/api/videos/{name}/outputs/{file}', 'get'],
      ['/api/videos/{name}/source', 'get'],
    ] as const) {
      assert.ok(doc.paths[path]?.[method], `${method} ${path} in ${Object.keys(doc.paths).join(', ')}`);
    }
  });

  test('the dashboard and its assets are served with a CSP; health routes answer', async () => {
    const page = await service.fetch(`/`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type')!, /text\/html/);
    assert.match(page.headers.get('content-security-policy')!, /default-src 'self'/);
    assert.match(await page.text(), /video-thumbnailer/);
    for (const asset of ['/app.js', '/styles.css']) {
      const res = await service.fetch(`${asset}`);
      assert.equal(res.status, 200, asset);
      await res.arrayBuffer();
    }
    assert.equal((await service.fetch(`/healthz`)).status, 200);
    assert.equal((await service.fetch(`/readyz`)).status, 200);
    assert.equal((await service.fetch(`/metrics`)).status, 200);
  });
});

describe('bearer token', () => {
  test('with THUMBNAILER_API_TOKEN every /api route needs it; health and the page stay open', async () => {
    const secured = await startApiService(azurite, {
      worker: false,
      settings: { ...service.names, apiToken: 's3cret-token' },
      api: { apiToken: 's3cret-token' },
    });
    try {
      for (const [method, path] of [
        ['GET', '/api/jobs'],
        ['GET', '/api/jobs/x'],
        ['GET', '/api/jobs/x/events'],
        ['POST', '/api/jobs'],
        ['POST', '/api/videos?name=a.mp4'],
        ['GET', `/api/videos/${enc(NAME)}/source`],
        ['GET', `/api/videos/${enc(NAME)}/outputs/strip.jpg`],
        ['GET', `/api/videos/${enc(NAME)}/frame.jpg?time=1`],
        ['GET', '/api/openapi.json'],
      ] as const) {
        const res = await secured.fetch(`${path}`, { method, body: method === 'POST' ? 'x' : undefined });
        assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="thumbnailer"', path);
        await expectError(res, 401, 'E_UNAUTHORIZED');
      }
      const wrong = await secured.fetch(`/api/jobs`, { headers: { authorization: 'Bearer nope' } });
      await expectError(wrong, 401, 'E_UNAUTHORIZED');
      const basic = await secured.fetch(`/api/jobs`, {
        headers: { authorization: 'Basic czNjcmV0LXRva2Vu' },
      });
      await expectError(basic, 401, 'E_UNAUTHORIZED');

      const ok = await secured.fetch(`/api/jobs`, { headers: { authorization: 'Bearer s3cret-token' } });
      assert.equal(ok.status, 200);
      assert.ok(Array.isArray((await json<{ jobs: unknown[] }>(ok)).jobs));
      // <video>, <img> and EventSource carry it in the query, on GETs only.
      const media = await secured.fetch(`/api/videos/${enc(NAME)}/source?access_token=s3cret-token`, {
        headers: { range: 'bytes=0-3' },
      });
      assert.equal(media.status, 206);
      await media.arrayBuffer();
      const postWithQuery = await secured.fetch(`/api/jobs?access_token=s3cret-token`, { method: 'POST' });
      await expectError(postWithQuery, 401, 'E_UNAUTHORIZED');

      for (const open of ['/healthz', '/readyz', '/metrics', '/', '/app.js']) {
        const res = await secured.fetch(`${open}`);
        assert.equal(res.status, 200, open);
        await res.arrayBuffer();
      }
    } finally {
      await secured.close();
    }
  });

  test('without a token the API is open', async () => {
    const res = await service.fetch(`/api/jobs`);
    assert.equal(res.status, 200);
    await res.arrayBuffer();
  });
});
