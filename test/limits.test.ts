import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { cgroupCpuQuota } from '../src/engine/cpus.js';
import { generate } from '../src/engine/generate.js';
import { ffmpeg, media } from './support/media.js';

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
    { name: 'job time', limits: { jobTimeoutMs: 5 }, code: 'E_JOB_TIMEOUT', message: /longer than/ },
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

/**
 * A picture past JPEG's 65 535 px a side or ffmpeg's largest frame is refused by name before any
 * decoding (it failed in ffmpeg as E_FFMPEG_FAILED, which is transient: retried to the poison limit).
 */
describe('pictures no format or ffmpeg can hold', () => {
  const refused = async (path: string, options: object, field: string, message: RegExp) => {
    const out = join(work, `refused-${field}-${Math.random().toString(36).slice(2)}`);
    await assert.rejects(generate({ source: { kind: 'file', path }, outDir: out, options }), {
      code: 'E_OPTION_INVALID',
      field,
      message,
    });
    await assert.rejects(readdir(out), 'no output folder');
  };

  test('a strip of 20 x 20 tiles 1920 px wide (38400x21600)', async () => {
    await refused(
      fixture,
      { outputs: ['strip'], rows: 20, cols: 20, width: 1920 },
      'width',
      /strip of 38400x21600/,
    );
  });

  test('a 16x4096 video: its default strip and sheets are refused, its poster is made', async () => {
    const tall = join(work, 'tall.mp4');
    await ffmpeg([
      '-f',
      'lavfi',
      '-i',
      'testsrc=s=16x4096:r=5',
      '-t',
      '2',
      '-c:v',
      'libx264',
      '-pix_fmt',
      'yuv420p',
      tall,
    ]);
    await refused(tall, {}, 'width', /strip of 6000x768000.*smaller tiles/);
    const sheets = { outputs: ['storyboard'], storyboardWidths: [160, 320] };
    await refused(tall, sheets, 'storyboardWidths', /storyboard sheet of 3200x81920.*storyboardWidth/);
    const manifest = await generate({
      source: { kind: 'file', path: tall },
      outDir: join(work, 'tall-poster'),
      options: { outputs: ['poster'] },
    });
    const poster = manifest.outputs.find((o) => o.kind === 'poster')!;
    assert.deepEqual([poster.width, poster.height], [16, 4096]);
  });
});

/** ffmpeg's threads follow the CPUs a container may use, not the host's cores. */
describe('CPU quota of the cgroup', () => {
  const files = (entries: Record<string, string>) => (path: string) => entries[path];
  test('cgroup v2: a quota of 1.5 CPUs is 2 threads; "max" is no quota', () => {
    assert.equal(cgroupCpuQuota(files({ '/sys/fs/cgroup/cpu.max': '150000 100000\n' })), 2);
    assert.equal(cgroupCpuQuota(files({ '/sys/fs/cgroup/cpu.max': '50000 100000\n' })), 1);
    assert.equal(cgroupCpuQuota(files({ '/sys/fs/cgroup/cpu.max': 'max 100000\n' })), undefined);
  });
  test('cgroup v1: quota over period; -1 is no quota; no cgroup files is no quota', () => {
    const v1 = (quota: string) =>
      files({
        '/sys/fs/cgroup/cpu/cpu.cfs_quota_us': quota,
        '/sys/fs/cgroup/cpu/cpu.cfs_period_us': '100000\n',
      });
    assert.equal(cgroupCpuQuota(v1('400000\n')), 4);
    assert.equal(cgroupCpuQuota(v1('-1\n')), undefined);
    assert.equal(cgroupCpuQuota(files({})), undefined);
  });
});
