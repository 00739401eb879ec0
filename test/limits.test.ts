import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { cgroupCpuQuota } from '../src/engine/cpus.js';
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
