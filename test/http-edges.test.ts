import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { Registry } from 'prom-client';
import type { JobRecord } from '../src/adapters/jobs.js';
import { loadSettings } from '../src/config.js';
import { buildApp } from '../src/hosts/http/app.js';
import { runLocalService } from '../src/hosts/cli/local.js';
import { FFMPEG } from './support/binaries.js';
import { startAzurite, type TestAzurite } from './support/azurite.js';
import { readEvents, startApiService, type ApiService } from './support/http.js';
import { ROOT } from './support/worker.js';

/**
 * The edges of the HTTP API (issue 12, docs/contract.md section 8): the open local mode, strict JSON
 * bodies, served content types, and every resource a request can hold bounded.
 */

const run = promisify(execFile);
let azurite: TestAzurite;
let service: ApiService;
let scratch: string;
/** H.264 in MP4: the index route. */
let mp4: Buffer;
/** H.264 in MPEG-TS: no container index, only the remux route could read it. */
let ts: Buffer;
const enc = encodeURIComponent;

interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | number | undefined>;
  body: string;
}

/**
 * A request sent as written, served in process (`inject`): Host, Origin and the body as given,
 * nothing added (fetch would set Host and Origin itself).
 */
async function raw(
  service: ApiService,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: Buffer | string,
): Promise<RawResponse> {
  const res = await service.app.inject({ method: method as 'GET', url: path, headers, payload: body });
  return { status: res.statusCode, headers: res.headers, body: res.payload };
}

const errorOf = (res: RawResponse) =>
  (JSON.parse(res.body) as { error: { code: string; field?: string; message: string } }).error;

async function makeVideo(name: string, args: string[]): Promise<Buffer> {
  const path = join(scratch, name);
  await run(FFMPEG, ['-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=s=320x180:r=25:d=4', ...args, path]);
  return readFile(path);
}

async function stored(container: string, name: string): Promise<boolean> {
  return service.storage.blobs.getProperties(container, name).then(
    () => true,
    () => false,
  );
}

before(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'thumbnailer-edges-'));
  mp4 = await makeVideo('a.mp4', [
    '-c:v',
    'libx264',
    '-preset',
    'ultrafast',
    '-g',
    '25',
    '-pix_fmt',
    'yuv420p',
  ]);
  ts = await makeVideo('a.ts', [
    '-c:v',
    'libx264',
    '-preset',
    'ultrafast',
    '-g',
    '25',
    '-pix_fmt',
    'yuv420p',
    '-f',
    'mpegts',
  ]);
  azurite = await startAzurite();
  service = await startApiService(azurite, { worker: false });
  const videos = service.settings.videoContainer;
  await service.storage.blobs.uploadStream(videos, 'a.mp4', bufferStream(mp4), { contentType: 'video/mp4' });
  await service.storage.blobs.uploadStream(videos, 'a.ts', bufferStream(ts), { contentType: 'video/mp2t' });
});
after(async () => {
  await service?.close();
  await azurite?.stop();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

const bufferStream = (data: Buffer) => Readable.from([data]);

describe('open local mode (no token)', () => {
  test('answers loopback Host names only: a rebinding name is refused with 421', async () => {
    const port = '7071';
    for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`, 'localhost']) {
      const res = await raw(service, 'GET', '/api/jobs', { host });
      assert.equal(res.status, 200, `${host}: ${res.body}`);
    }
    for (const host of [
      `evil.example:${port}`,
      'evil.example',
      `localhost.evil.example:${port}`,
      `10.0.0.5:${port}`,
    ]) {
      for (const path of ['/api/jobs', '/', '/api/videos/a.mp4/source']) {
        const res = await raw(service, 'GET', path, { host });
        assert.equal(res.status, 421, `${host} ${path}: ${res.body}`);
        assert.equal(errorOf(res).code, 'E_HOST_REFUSED');
        assert.match(errorOf(res).message, /THUMBNAILER_API_TOKEN/);
      }
    }
  });

  test('the configured host (THUMBNAILER_HOST) is answered too', async () => {
    const named = await startApiService(azurite, {
      settings: service.names,
      worker: false,
      api: { host: 'thumbs.internal', allowOpen: true },
    });
    try {
      assert.equal((await raw(named, 'GET', '/api/jobs', { host: 'thumbs.internal:7071' })).status, 200);
      assert.equal((await raw(named, 'GET', '/api/jobs', { host: 'other.internal:7071' })).status, 421);
    } finally {
      await named.close();
    }
  });

  test('a cross-site POST carrying a video is refused and stores nothing', async () => {
    const base = 'http://127.0.0.1:7071';
    const host = '127.0.0.1:7071';
    const attempts: [string, Record<string, string>][] = [
      ['origin', { origin: 'http://evil.example', 'content-type': 'text/plain' }],
      ['null origin', { origin: 'null', 'content-type': 'text/plain' }],
      ['other port', { origin: 'http://127.0.0.1:1', 'content-type': 'video/mp4' }],
      ['fetch metadata', { 'sec-fetch-site': 'cross-site', 'content-type': 'text/plain' }],
    ];
    for (const [label, headers] of attempts) {
      const name = `csrf-${label.replace(/ /g, '-')}.mp4`;
      const res = await raw(service, 'POST', `/api/videos?name=${name}`, { host, ...headers }, mp4);
      assert.equal(res.status, 403, `${label}: ${res.body}`);
      assert.equal(errorOf(res).code, 'E_ORIGIN_REFUSED');
      assert.equal(await stored(service.settings.videoContainer, name), false, label);
    }
    const job = await raw(
      service,
      'POST',
      '/api/jobs',
      { host, origin: 'http://evil.example', 'content-type': 'text/plain' },
      JSON.stringify({ video: 'a.mp4' }),
    );
    assert.equal(job.status, 403);
    const list = JSON.parse((await raw(service, 'GET', '/api/jobs', { host })).body) as { jobs: JobRecord[] };
    assert.deepEqual(
      list.jobs.filter((j) => j.video === 'a.mp4' || j.video.startsWith('csrf-')),
      [],
      'no job was queued',
    );

    // The dashboard (same origin) and clients that are not browsers are served.
    const same = await raw(
      service,
      'POST',
      '/api/videos?name=same-origin.mp4',
      { host, origin: base, 'sec-fetch-site': 'same-origin' },
      mp4,
    );
    assert.equal(same.status, 202, same.body);
    const curl = await raw(service, 'POST', '/api/videos?name=no-origin.mp4', { host }, mp4);
    assert.equal(curl.status, 202, curl.body);
  });

  test('an open API beyond loopback is refused unless allowed, naming THUMBNAILER_API_TOKEN', async () => {
    const deps = (api: Record<string, unknown>) => ({
      registry: new Registry(),
      readiness: async () => ({}),
      api: { storage: service.storage, maxUploadBytes: 1, ...api },
    });
    for (const host of ['0.0.0.0', '::', '192.168.1.10', 'thumbs.example']) {
      assert.throws(() => buildApp(deps({ host })), /THUMBNAILER_API_TOKEN/, host);
    }
    for (const api of [
      { host: '127.0.0.1' },
      { host: 'localhost' },
      { host: '::1' },
      { host: '0.0.0.0', apiToken: 't' },
      { host: '0.0.0.0', allowOpen: true },
    ]) {
      await buildApp(deps(api)).close();
    }
    // `thumbnailer start` says so before starting anything.
    const lines: string[] = [];
    await assert.rejects(
      runLocalService(
        { ...service.settings, host: '0.0.0.0', apiToken: undefined, allowOpen: false },
        { print: (l) => lines.push(l) },
      ),
      (error: Error) => /THUMBNAILER_API_TOKEN/.test(error.message) && /--allow-open/.test(error.message),
    );
    assert.deepEqual(lines, [], 'nothing started');
  });

  test('THUMBNAILER_ALLOW_OPEN is read as a yes or no, and off by default', () => {
    assert.equal(loadSettings({}, {}).allowOpen, false);
    assert.equal(loadSettings({}, { THUMBNAILER_ALLOW_OPEN: '1' }).allowOpen, true);
    assert.equal(loadSettings({}, { THUMBNAILER_ALLOW_OPEN: 'true' }).allowOpen, true);
    assert.equal(loadSettings({}, { THUMBNAILER_ALLOW_OPEN: '0' }).allowOpen, false);
    assert.throws(() => loadSettings({}, { THUMBNAILER_ALLOW_OPEN: 'yes please' }), /THUMBNAILER_ALLOW_OPEN/);
  });

  test('`thumbnailer start` with THUMBNAILER_HOST=0.0.0.0 and no token exits at once, naming the token', async () => {
    const env = {
      ...process.env,
      THUMBNAILER_HOST: '0.0.0.0',
      THUMBNAILER_API_TOKEN: '',
      THUMBNAILER_ALLOW_OPEN: '',
    };
    const cli = resolve(ROOT, 'src', 'hosts', 'cli', 'main.ts');
    const result = await run(
      process.execPath,
      ['--import', 'tsx', cli, 'start', '--in-memory', '--port', '1'],
      {
        cwd: ROOT,
        env,
        timeout: 60_000,
      },
    ).then(
      () => ({ code: 0, stderr: '' }),
      (e: { code: number; stderr: string }) => e,
    );
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /THUMBNAILER_API_TOKEN/);
    assert.match(result.stderr, /--allow-open/);
  });
});

describe('strict JSON bodies', () => {
  const post = (body: unknown) =>
    raw(service, 'POST', '/api/jobs', { 'content-type': 'application/json' }, JSON.stringify(body));

  test('no type coercion: a number, a boolean or an array is a 400 naming the field', async () => {
    for (const [body, field] of [
      [{ video: 42 }, 'video'],
      [{ video: true }, 'video'],
      [{ video: ['a.mp4'] }, 'video'],
      [{ video: null }, 'video'],
      [{ video: 'a.mp4', id: 7 }, 'id'],
      [{ video: 'a.mp4', options: 'rows=2' }, 'options'],
    ] as const) {
      const res = await post(body);
      assert.equal(res.status, 400, `${JSON.stringify(body)}: ${res.body}`);
      assert.equal(errorOf(res).code, 'E_OPTION_INVALID');
      assert.equal(errorOf(res).field, field, res.body);
    }
    // Query strings are text: their numbers are still read as numbers.
    assert.equal((await raw(service, 'GET', '/api/jobs?limit=3')).status, 200);
  });
});

describe('content types, nosniff and CSP', () => {
  test('an upload is served with the type of its bytes, never the one the client gave', async () => {
    const upload = await raw(
      service,
      'POST',
      '/api/videos?name=typed.mp4',
      { 'content-type': 'video/mp4;x=text/html' },
      mp4,
    );
    assert.equal(upload.status, 202, upload.body);
    const props = await service.storage.blobs.getProperties(service.settings.videoContainer, 'typed.mp4');
    assert.equal(props.contentType, 'video/mp4');
    const source = await raw(service, 'GET', '/api/videos/typed.mp4/source', { range: 'bytes=0-9' });
    assert.equal(source.status, 206);
    assert.equal(source.headers['content-type'], 'video/mp4');
    assert.equal(source.headers['x-content-type-options'], 'nosniff');
    assert.match(String(source.headers['content-security-policy']), /default-src 'none'/);

    const page = '<!doctype html><script>alert(document.domain)</script>'.padEnd(5000, ' ');
    const html = await raw(
      service,
      'POST',
      '/api/videos?name=page.mp4',
      { 'content-type': 'video/mp4' },
      page,
    );
    assert.equal(html.status, 202, html.body);
    const served = await raw(service, 'GET', '/api/videos/page.mp4/source');
    assert.equal(served.headers['content-type'], 'application/octet-stream');
  });

  test('blobs stored by others keep no foreign type: sources and outputs map to the product list', async () => {
    const { videoContainer, thumbnailContainer } = service.settings;
    const blobs = service.storage.blobs;
    await blobs.uploadText(videoContainer, 'foreign.mp4', '<html>hi</html>', { contentType: 'text/html' });
    await blobs.uploadText(videoContainer, 'params.mp4', 'x', { contentType: 'video/mp4; x=text/html' });
    await blobs.uploadText(thumbnailContainer, 'a.mp4/strip.jpg', 'x', { contentType: 'text/html' });
    await blobs.uploadText(thumbnailContainer, 'a.mp4/storyboard.vtt', 'WEBVTT', {
      contentType: 'text/html',
    });
    await blobs.uploadText(thumbnailContainer, 'a.mp4/x.html', '<html>', { contentType: 'text/html' });
    const cases: [string, string][] = [
      ['/api/videos/foreign.mp4/source', 'application/octet-stream'],
      ['/api/videos/params.mp4/source', 'application/octet-stream'],
      ['/api/videos/a.mp4/source', 'video/mp4'],
      ['/api/videos/a.mp4/outputs/strip.jpg', 'image/jpeg'],
      ['/api/videos/a.mp4/outputs/storyboard.vtt', 'text/vtt; charset=utf-8'],
      ['/api/videos/a.mp4/outputs/x.html', 'application/octet-stream'],
    ];
    for (const [path, type] of cases) {
      const res = await raw(service, 'GET', path);
      assert.equal(res.status, 200, `${path}: ${res.body}`);
      assert.equal(res.headers['content-type'], type, path);
      assert.equal(res.headers['x-content-type-options'], 'nosniff', path);
    }
  });

  test('every response carries a CSP: JSON, errors, event streams; the dashboard keeps its own', async () => {
    for (const path of [
      '/api/jobs',
      '/api/jobs/nope',
      '/api/nothing',
      '/healthz',
      '/metrics',
      '/api/openapi.json',
    ]) {
      const res = await raw(service, 'GET', path);
      assert.match(
        String(res.headers['content-security-policy']),
        /default-src 'none'; frame-ancestors 'none'/,
        path,
      );
      assert.equal(res.headers['x-content-type-options'], 'nosniff', path);
    }
    const page = await raw(service, 'GET', '/');
    assert.match(String(page.headers['content-security-policy']), /default-src 'self'/);
    await service.storage.jobs.update('csp-job', {
      video: 'a.mp4',
      status: 'done',
      progress: 1,
      attempts: 1,
    });
    const stream = await service.fetch('/api/jobs/csp-job/events');
    assert.match(stream.headers.get('content-security-policy') ?? '', /default-src 'none'/);
    await stream.text();
  });
});

describe('frames on demand, bounded', () => {
  test('a video the index cannot serve is a 422 pointing at its outputs, read no further than its head', async () => {
    let bytesRead = 0;
    const counted = await startApiService(azurite, {
      settings: service.names,
      worker: false,
      api: { onBytesRead: (n) => (bytesRead += n) },
    });
    try {
      const res = await raw(counted, 'GET', '/api/videos/a.ts/frame.jpg?time=1');
      assert.equal(res.status, 422, res.body);
      assert.equal(errorOf(res).code, 'E_FRAME_UNAVAILABLE');
      assert.match(errorOf(res).message, /\/api\/videos\/a\.ts\/outputs\/poster\.jpg/);
      assert.ok(bytesRead < ts.length / 4, `read ${bytesRead} of ${ts.length} bytes`);
      // The index route still answers.
      const ok = await raw(counted, 'GET', '/api/videos/a.mp4/frame.jpg?time=1');
      assert.equal(ok.status, 200, ok.body);
    } finally {
      await counted.close();
    }
  });

  test('past the bound on frames made at once, requests are shed with 503 and Retry-After', async () => {
    const bounded = await startApiService(azurite, {
      settings: service.names,
      worker: false,
      api: { maxConcurrentFrames: 1 },
    });
    try {
      const answers = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          raw(
            bounded,
            'GET',
            `/api/videos/a.mp4/frame.jpg?time=${(i * 0.4).toFixed(1)}&width=${160 + i * 16}`,
          ),
        ),
      );
      const statuses = answers.map((a) => a.status);
      assert.ok(statuses.includes(200), statuses.join());
      const shed = answers.filter((a) => a.status === 503);
      assert.ok(shed.length > 0, statuses.join());
      for (const s of shed) {
        assert.equal(errorOf(s).code, 'E_OVERLOADED');
        assert.ok(Number(s.headers['retry-after']) >= 1);
      }
      // Places are given back: one at a time is always served.
      for (let i = 0; i < 3; i++) {
        assert.equal((await raw(bounded, 'GET', `/api/videos/a.mp4/frame.jpg?time=${i}`)).status, 200);
      }
    } finally {
      await bounded.close();
    }
  });
});

describe('event streams and job lists, bounded', () => {
  test('past the cap on open streams: 503 with Retry-After; a closed stream gives its place back', async () => {
    const capped = await startApiService(azurite, {
      settings: service.names,
      worker: false,
      api: { maxEventStreams: 1 },
    });
    try {
      await capped.storage.jobs.update('waiting', {
        video: 'a.mp4',
        status: 'queued',
        progress: 0,
        attempts: 0,
      });
      const first = new AbortController();
      // A stream held open: a real connection, which the client then drops.
      const base = await capped.listen();
      const open = await fetch(`${base}/api/jobs/waiting/events`, { signal: first.signal });
      assert.equal(open.status, 200);
      const second = await raw(capped, 'GET', '/api/jobs/waiting/events');
      assert.equal(second.status, 503, second.body);
      assert.equal(errorOf(second).code, 'E_OVERLOADED');
      assert.ok(Number(second.headers['retry-after']) >= 1);
      first.abort();
      await open.body?.cancel().catch(() => undefined);
      let status = 0;
      for (let i = 0; i < 50 && status !== 200; i++) {
        await new Promise((r) => setTimeout(r, 100));
        const again = await fetch(`${base}/api/jobs/waiting/events`, {
          signal: AbortSignal.timeout(5000),
        });
        status = again.status;
        await again.body?.cancel();
      }
      assert.equal(status, 200);
    } finally {
      await capped.close();
    }
  });

  test('a stream ends after its lifetime; a reconnection goes on from Last-Event-ID', async () => {
    const short = await startApiService(azurite, {
      settings: service.names,
      worker: false,
      api: { eventStreamLifetimeMs: 300 },
    });
    try {
      await short.storage.jobs.update('slow', { video: 'a.mp4', status: 'queued', progress: 0, attempts: 0 });
      const base = await short.listen();
      const events = await readEvents(`${base}/api/jobs/slow/events`, {}, 10_000);
      assert.deepEqual(
        events.map((e) => [e.event, e.id]),
        [['progress', '1']],
        'the state, then the end of the stream (no end event: the job goes on)',
      );
      const resumed = await readEvents(
        `${base}/api/jobs/slow/events`,
        { headers: { 'last-event-id': '7' } },
        10_000,
      );
      assert.deepEqual(
        resumed.map((e) => e.id),
        ['8'],
      );
    } finally {
      await short.close();
    }
  });

  test('GET /api/jobs is paged: at most limit per call, next continues, every job once', async () => {
    const paged = await startApiService(azurite, {
      settings: service.names,
      worker: false,
    });
    try {
      const ids = Array.from({ length: 23 }, (_, i) => `page-${String(i).padStart(2, '0')}`);
      for (const id of ids) {
        await paged.storage.jobs.update(id, {
          video: 'a.mp4',
          status: Number(id.slice(5)) % 2 ? 'done' : 'failed',
          progress: 1,
          attempts: 1,
          createdAt: new Date().toISOString(),
        });
      }
      const seen: string[] = [];
      let next: string | undefined;
      let calls = 0;
      do {
        const res = await raw(paged, 'GET', `/api/jobs?limit=5${next ? `&next=${next}` : ''}`);
        assert.equal(res.status, 200, res.body);
        const page = JSON.parse(res.body) as { jobs: JobRecord[]; next?: string };
        assert.ok(page.jobs.length <= 5);
        seen.push(...page.jobs.map((j) => j.id));
        next = page.next;
        calls++;
      } while (next && calls < 20);
      const listed = seen.filter((id) => id.startsWith('page-')).sort();
      assert.deepEqual(listed, ids, 'every job once');
      assert.ok(calls >= 5, `${calls} calls`);

      // Filters run in the table, and pages of a filtered list continue too.
      const done: string[] = [];
      next = undefined;
      do {
        const res = await raw(paged, 'GET', `/api/jobs?limit=4&status=done${next ? `&next=${next}` : ''}`);
        const page = JSON.parse(res.body) as { jobs: JobRecord[]; next?: string };
        assert.ok(page.jobs.every((j) => j.status === 'done'));
        done.push(...page.jobs.map((j) => j.id));
        next = page.next;
      } while (next);
      assert.equal(done.filter((id) => id.startsWith('page-')).length, 11);

      const since = await raw(
        paged,
        'GET',
        `/api/jobs?since=${enc(new Date(Date.now() + 60_000).toISOString())}`,
      );
      assert.deepEqual((JSON.parse(since.body) as { jobs: unknown[] }).jobs, []);

      for (const [query, field] of [
        ['limit=501', 'limit'],
        ['next=not-a-token', 'next'],
        [`next=${Buffer.from('{"x":1}').toString('base64url')}`, 'next'],
        ['since=yesterday', 'since'],
      ]) {
        const res = await raw(paged, 'GET', `/api/jobs?${query}`);
        assert.equal(res.status, 400, `${query}: ${res.body}`);
        assert.equal(errorOf(res).field, field, res.body);
      }
    } finally {
      await paged.close();
    }
  });
});
