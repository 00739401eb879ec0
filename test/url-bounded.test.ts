import assert from 'node:assert/strict';
import { readFile, mkdtemp, readdir, rm } from 'node:fs/promises';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Transform, pipeline } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { generate } from '../src/engine/generate.js';
import { media } from './support/media.js';

/**
 * A URL input is read with bounded range requests, whatever the server does: one that ignores
 * `Range` (200 with the whole body) or sends more than asked costs at most what was asked for.
 */

const BIG = 256 * 1024 ** 2;
/** Loopback socket buffers and one fetch chunk in flight: far below the body. */
const BOUND = 16 * 1024 ** 2;

let server: Server;
let base: string;
let clip: Buffer;
let work: string;
let sent = 0;
let requests = 0;

/** Streams `head` then zeros up to `total` bytes, counting what the socket took. */
function stream(res: ServerResponse, head: Buffer, total: number) {
  let offset = 0;
  const chunk = 64 * 1024;
  // Counted where the socket takes it; pipeline stops the source when the client goes away.
  const counter = new Transform({
    transform(c: Buffer, _enc, done) {
      sent += c.length;
      done(null, c);
    },
  });
  pipeline(
    Readable.from(
      (function* () {
        while (offset < total) {
          const n = Math.min(chunk, total - offset);
          const part =
            offset < head.length ? head.subarray(offset, Math.min(head.length, offset + n)) : Buffer.alloc(n);
          offset += part.length;
          yield part;
        }
      })(),
    ),
    counter,
    res,
    () => undefined,
  );
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'thumbnailer-url-bounded-'));
  clip = await readFile(await media('h264'));
  server = createServer((req, res) => {
    requests++;
    if (req.url === '/ignores-range.mp4') {
      // Range ignored: 200 and the whole (large) body, as a naive static server does.
      res.writeHead(200, { 'content-type': 'video/mp4', 'content-length': BIG });
      stream(res, clip, BIG);
      return;
    }
    if (req.url === '/sends-more.mp4') {
      // 206 with the right Content-Range, then far more bytes than asked (a hostile server).
      const m = /bytes=(\d+)-(\d+)/.exec(req.headers.range ?? '');
      const start = m ? Number(m[1]) : 0;
      const end = m ? Math.min(Number(m[2]), clip.length - 1) : clip.length - 1;
      res.writeHead(206, { 'content-range': `bytes ${start}-${end}/${clip.length}` });
      stream(res, clip.subarray(start), 32 * 1024 ** 2);
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  server.closeAllConnections();
  server.close();
  await rm(work, { recursive: true, force: true });
});

describe('URL inputs are read in bounded amounts', () => {
  test('a server that ignores Range is refused with E_URL_REFUSED after a bounded read', async () => {
    sent = 0;
    const heapBefore = process.memoryUsage().arrayBuffers;
    const out = join(work, 'ignores');
    await assert.rejects(
      generate({ source: { kind: 'url', url: `${base}/ignores-range.mp4` }, outDir: out }),
      {
        code: 'E_URL_REFUSED',
        permanent: true,
        message: /does not support range requests/,
      },
    );
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(sent < BOUND, `the server sent ${sent} bytes of ${BIG}`);
    assert.ok(process.memoryUsage().arrayBuffers - heapBefore < BOUND, 'the body was never held in memory');
    await assert.rejects(readdir(out), 'no output folder');
  });

  test('a server sending more than each range asked is read only as far as asked', async () => {
    sent = 0;
    requests = 0;
    const out = join(work, 'more');
    const manifest = await generate({
      source: { kind: 'url', url: `${base}/sends-more.mp4` },
      outDir: out,
      options: { outputs: ['poster'] },
    });
    assert.ok((await readdir(out)).includes('poster.jpg'));
    // Every range request ends the transfer once it has its bytes: what the socket took before
    // the cancel reached the server is bounded per request, not by the 32 MiB each one offers.
    assert.ok(manifest.bytesRead! <= clip.length);
    assert.ok(sent / requests < BOUND / 2, `the server sent ${sent} bytes in ${requests} requests`);
  });
});
