import assert from 'node:assert/strict';
import { open, mkdtemp, readdir, rm, statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadSettings } from '../src/config.js';
import { buildManifests, type KubernetesDocument } from '../src/deploy/manifests.js';
import { parseDeployOptions } from '../src/deploy/options.js';
import { COMMITTED_VARIANTS } from '../src/deploy/variants.js';
import { generate } from '../src/engine/generate.js';
import { DEFAULT_LIMITS } from '../src/engine/options.js';
import { ThumbnailerError } from '../src/errors.js';
import { decide } from '../src/jobs/policy.js';
import { engineLimitsFrom } from '../src/jobs/limits.js';
import { media, skipWithout } from './support/media.js';

/**
 * The remux and transcode routes need temporary disk (a copy of a remote input, the proxy): it is
 * checked before they start, against the per-job limit (permanent when over) and the free space of
 * the temporary folder (transient: others may free theirs); Kubernetes' emptyDir holds the limit for
 * every job slot, so a pod is never evicted for its /tmp.
 */

let work: string;
let ts: string;

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'thumbnailer-disk-'));
  if (!skipWithout('mpegts')) ts = await media('mpegts');
});
after(() => rm(work, { recursive: true, force: true }));

const GiB = 1024 ** 3;

/** A remote MPEG-TS that claims `size` bytes: its head is real, nothing past it may be read. */
async function claimedTs(size: number) {
  const file = await open(ts, 'r');
  let furthest = 0;
  return {
    source: {
      kind: 'ranged' as const,
      name: 'huge.ts',
      size,
      async read(start: number, end: number) {
        furthest = Math.max(furthest, end);
        if (start > 64 * 1024 ** 2) throw new Error(`read at ${start}: the copy was started`);
        const buffer = Buffer.alloc(Math.min(end - start, 4 * 1024 ** 2));
        const { bytesRead } = await file.read(buffer, 0, buffer.length, start);
        return buffer.subarray(0, bytesRead);
      },
    },
    furthest: () => furthest,
    close: () => file.close(),
  };
}

// The remux route's input here is MPEG-TS, which the bundled 2018 ffprobe cannot read.
describe(
  'temporary disk is checked before the remux/transcode route starts',
  { skip: skipWithout('mpegts') },
  () => {
    test('over the per-job limit: E_LIMIT_EXCEEDED (permanent), nothing written or left', async () => {
      const out = join(work, 'over-limit');
      const temp = join(work, 'temp-over');
      await rm(temp, { recursive: true, force: true });
      await import('node:fs/promises').then((fs) => fs.mkdir(temp));
      await assert.rejects(
        generate({
          source: { kind: 'file', path: ts },
          outDir: out,
          tempDir: temp,
          limits: { maxTempBytes: 1024 ** 2 },
        }),
        (error: ThumbnailerError) => {
          assert.equal(error.code, 'E_LIMIT_EXCEEDED');
          assert.equal(error.permanent, true);
          assert.match(
            error.message,
            /remux route needs about \d+ MiB of temporary disk for this input, over the limit of 1 MiB a job \(THUMBNAILER_MAX_TEMP_BYTES\)/,
          );
          return true;
        },
      );
      await assert.rejects(readdir(out));
      assert.deepEqual(await readdir(temp), [], 'the job folder is gone');
    });

    test('within the limit: the same file is made', async () => {
      const out = join(work, 'within');
      const manifest = await generate({
        source: { kind: 'file', path: ts },
        outDir: out,
        options: { outputs: ['poster'] },
        limits: { maxTempBytes: GiB },
      });
      assert.equal(manifest.route, 'remux');
    });

    test('more than the disk has free: E_TEMP_DISK_FULL (transient, retried), before any copy', async () => {
      const stats = await statfs(work);
      const size = Math.min(Number.MAX_SAFE_INTEGER / 8, stats.blocks * stats.bsize * 4);
      const remote = await claimedTs(size);
      try {
        await assert.rejects(
          generate({
            source: remote.source,
            outDir: join(work, 'full'),
            tempDir: work,
            limits: { maxInputBytes: Number.MAX_SAFE_INTEGER, maxTempBytes: Number.MAX_SAFE_INTEGER },
          }),
          (error: ThumbnailerError) => {
            assert.equal(error.code, 'E_TEMP_DISK_FULL', error.message);
            assert.equal(error.permanent, false);
            assert.match(error.message, /is free/);
            return true;
          },
        );
        assert.ok(remote.furthest() <= 64 * 1024 ** 2, `read up to ${remote.furthest()}`);
      } finally {
        await remote.close();
      }
      const deps = { maxDeliveries: 5, retryBaseMs: 1000, retryMaxMs: 60_000 };
      assert.equal(decide(new ThumbnailerError('E_TEMP_DISK_FULL', 'x'), 1, deps).action, 'retry');
    });
  },
);

describe("Kubernetes: the emptyDir holds every job slot's temporary disk limit", () => {
  const podOf = (documents: KubernetesDocument[]) => {
    const doc = documents.find((d) => d.kind === 'Deployment' || d.kind === 'ScaledJob') as unknown as {
      spec: { template?: { spec: Pod }; jobTargetRef?: { template: { spec: Pod } } };
    };
    return (doc.spec.template ?? doc.spec.jobTargetRef!.template).spec;
  };
  type Pod = {
    containers: { env?: { name: string; value?: string; valueFrom?: unknown }[] }[];
    volumes?: { name: string; emptyDir?: { sizeLimit?: string } }[];
  };
  const bytes = (q: string) => {
    const m = /^(\d+)(Mi|Gi)$/.exec(q)!;
    return Number(m[1]) * (m[2] === 'Gi' ? GiB : 1024 ** 2);
  };

  for (const variant of [
    ...COMMITTED_VARIANTS.map((v) => ({ label: v.dir, options: v.options })),
    {
      label: '--temp-disk-gib 20 --queue-length 4',
      options: { ...COMMITTED_VARIANTS[0]!.options, tempDiskGib: 20, queueLength: 4 },
    },
    { label: '--temp-disk-gib 1', options: { ...COMMITTED_VARIANTS[0]!.options, tempDiskGib: 1 } },
  ]) {
    test(variant.label, () => {
      const options = parseDeployOptions(variant.options);
      const pod = podOf(buildManifests(options));
      const env: NodeJS.ProcessEnv = {};
      for (const e of pod.containers[0]!.env ?? [])
        env[e.name] = e.valueFrom ? 'UseDevelopmentStorage=true' : e.value;
      const limits = engineLimitsFrom(loadSettings({}, env));
      assert.equal(limits.maxTempBytes, options.tempDiskGib * GiB, 'the pods get the per-job limit');
      assert.ok(limits.maxTempBytes < DEFAULT_LIMITS.maxTempBytes);
      const sizeLimit = bytes(pod.volumes!.find((v) => v.name === 'tmp')!.emptyDir!.sizeLimit!);
      const slots = Math.max(2, options.queueLength);
      assert.ok(sizeLimit >= slots * limits.maxTempBytes + GiB, `${sizeLimit} for ${slots} slots`);
    });
  }
});
