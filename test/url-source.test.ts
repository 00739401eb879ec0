import assert from 'node:assert/strict';
import { createReadStream } from 'node:fs';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { generate } from '../src/engine/generate.js';
import { media } from './support/media.js';

let fixture: string;

/** A loopback HTTP server with range support that counts the bytes it sends. */
let server: Server;
let base: string;
let bytesSent = 0;
let requests: string[] = [];
let work: string;

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'thumbnailer-url-'));
  fixture = await media('cityC');
  const size = (await stat(fixture)).size;
  server = createServer((req, res) => {
    requests.push(`${req.url} ${req.headers.range ?? ''}`);
    if (req.url === '/redirect.mp4') {
      res.writeHead(302, { location: `${base}/video.mp4` }).end();
      return;
    }
    if (req.url !== '/video.mp4') {
      res.writeHead(404).end();
      return;
    }
    const match = /bytes=(\d+)-(\d*)/.exec(req.headers.range ?? '');
    const start = match ? Number(match[1]) : 0;
    const end = match && match[2] ? Math.min(Number(match[2]), size - 1) : size - 1;
    res.writeHead(match ? 206 : 200, {
      'content-length': end - start + 1,
      'content-range': `bytes ${start}-${end}/${size}`,
      etag: '"fixture-c"',
      'accept-ranges': 'bytes',
    });
    createReadStream(fixture, { start, end })
      .on('data', (chunk) => (bytesSent += chunk.length))
      .pipe(res);
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  server.close();
  await rm(work, { recursive: true, force: true });
});

describe('URL inputs', () => {
  test('are read with range requests; the manifest keeps the ETag and counts the bytes read', async () => {
    bytesSent = 0;
    requests = [];
    const out = join(work, 'url');
    const manifest = await generate({
      source: { kind: 'url', url: `${base}/video.mp4` },
      outDir: out,
      options: { outputs: ['strip', 'poster'] },
    });
    assert.equal(manifest.route, 'index');
    assert.equal(manifest.input.etag, '"fixture-c"');
    assert.ok(
      requests.every((r) => /bytes=\d+-\d+$/.test(r)),
      `every request is a bounded range: ${requests.join(', ')}`,
    );
    assert.equal(manifest.bytesRead, bytesSent);
    assert.ok((await readdir(out)).includes('strip.jpg'));
  });

  test('redirects are refused, nothing is written', async () => {
    const out = join(work, 'redirect');
    await assert.rejects(generate({ source: { kind: 'url', url: `${base}/redirect.mp4` }, outDir: out }), {
      code: 'E_STORAGE_UNAVAILABLE',
    });
    await assert.rejects(readdir(out));
  });

  test('a missing URL is E_INPUT_NOT_FOUND', async () => {
    await assert.rejects(
      generate({ source: { kind: 'url', url: `${base}/missing.mp4` }, outDir: join(work, 'missing') }),
      { code: 'E_INPUT_NOT_FOUND' },
    );
  });
});
