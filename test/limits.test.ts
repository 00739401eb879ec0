import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { generate } from '../src/engine/generate.js';
import { media } from './support/media.js';

let fixture: string;
let work: string;

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'thumbnailer-limits-'));
  fixture = await media('cityA');
});
after(() => rm(work, { recursive: true, force: true }));

/** Each limit refuses the job with E_LIMIT_EXCEEDED (or a timeout) before anything is written. */
describe('limits', () => {
  const cases = [
    { name: 'input size', limits: { maxInputBytes: 1000 }, code: 'E_LIMIT_EXCEEDED', message: /bytes/ },
    { name: 'duration', limits: { maxDurationSeconds: 2 }, code: 'E_LIMIT_EXCEEDED', message: /lasts 4 s/ },
    { name: 'pixel count', limits: { maxPixels: 320 * 180 }, code: 'E_LIMIT_EXCEEDED', message: /640x360/ },
    { name: 'job time', limits: { jobTimeoutMs: 5 }, code: 'E_FFMPEG_TIMEOUT', message: /longer than/ },
  ];
  for (const c of cases) {
    test(`${c.name}`, async () => {
      const out = join(work, c.name.replace(/\s/g, '-'));
      await assert.rejects(
        generate({ source: { kind: 'file', path: fixture }, outDir: out, limits: c.limits }),
        {
          code: c.code,
          message: c.message,
        },
      );
      await assert.rejects(readdir(out), 'no output folder');
    });
  }
});
