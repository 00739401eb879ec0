import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { ThumbnailerError } from '../src/errors.js';
import { FrameService } from '../src/engine/frames.js';
import { generate } from '../src/engine/generate.js';
import type { RangedVideoSource } from '../src/engine/types.js';
import { FFMPEG } from './support/binaries.js';

const run = promisify(execFile);

/**
 * Memory bounded by design (docs/contract.md section 8): the container index and each sample have size
 * caps checked on their declared sizes, before anything is read or allocated. Sources here are
 * ranged (like a blob) and record the largest read asked of them: that is what would be allocated.
 */
let work: string;
let mp4: Uint8Array;
let webm: Uint8Array;

function recordingSource(name: string, data: Uint8Array): RangedVideoSource & { largestRead: number } {
  const source = {
    kind: 'ranged' as const,
    name,
    size: data.byteLength,
    largestRead: 0,
    async read(start: number, end: number) {
      source.largestRead = Math.max(source.largestRead, end - start);
      return data.subarray(start, end);
    },
  };
  return source;
}

/** ftyp, then a moov whose header declares `size` bytes (64-bit size when over 4 GB), then a little data. */
function mp4WithMoovOf(size: number): Uint8Array {
  const ftyp = Buffer.from('0000001866747970697336760000000069736f6d69736f32', 'hex');
  const header = Buffer.alloc(16);
  if (size < 2 ** 32) {
    header.writeUInt32BE(size, 0);
    header.write('moov', 4, 'latin1');
  } else {
    header.writeUInt32BE(1, 0);
    header.write('moov', 4, 'latin1');
    header.writeBigUInt64BE(BigInt(size), 8);
  }
  return Buffer.concat([ftyp, header, Buffer.alloc(4096, 0x61)]);
}

/** The same MP4 with the size of its first sample rewritten in the sample table (stsz). */
function withFirstSampleSize(file: Uint8Array, size: number): Uint8Array {
  return withSampleSize(file, 0, size);
}

/** The same MP4 with the size of sample `index` rewritten in the sample table (stsz). */
function withSampleSize(file: Uint8Array, index: number, size: number): Uint8Array {
  const copy = Buffer.from(file);
  const at = copy.indexOf('stsz', 0, 'latin1');
  assert.ok(at > 0, 'the fixture has a sample-size table');
  // type, version+flags, uniform size (0: a table follows), count, then the first entry.
  assert.equal(copy.readUInt32BE(at + 8), 0, 'sizes are listed one per sample');
  assert.ok(copy.readUInt32BE(at + 12) > index, 'the table lists that sample');
  copy.writeUInt32BE(size, at + 16 + 4 * index);
  return copy;
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'thumbnailer-caps-'));
  const common = ['-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=s=320x180:r=25:d=4', '-g', '50'];
  await run(FFMPEG, [...common, '-c:v', 'libx264', '-movflags', '+faststart', join(work, 'v.mp4')]);
  await run(FFMPEG, [...common, '-c:v', 'libvpx', '-b:v', '500k', join(work, 'v.webm')]);
  mp4 = await readFile(join(work, 'v.mp4'));
  webm = await readFile(join(work, 'v.webm'));
});
after(() => rm(work, { recursive: true, force: true }));

describe('index and sample caps', () => {
  for (const declared of [0x7fff_fff0, 2 ** 40]) {
    test(`a moov declaring ${declared} bytes is refused with E_INDEX_TOO_LARGE, reading only headers`, async () => {
      const source = recordingSource('huge-moov.mp4', mp4WithMoovOf(declared));
      await assert.rejects(
        generate({ source, outDir: join(work, `out-moov-${declared}`) }),
        (error: unknown) => {
          const e = error as { code: string; permanent: boolean; message: string };
          assert.equal(e.code, 'E_INDEX_TOO_LARGE');
          assert.equal(e.permanent, true);
          assert.match(e.message, new RegExp(`${declared} bytes`));
          return true;
        },
      );
      assert.ok(source.largestRead <= 64 * 1024, `largest read ${source.largestRead} bytes`);
    });
  }

  test('a real moov over a lowered index cap is refused before it is read', async () => {
    const source = recordingSource('v.mp4', mp4);
    await assert.rejects(
      generate({ source, outDir: join(work, 'out-moov-cap'), limits: { maxIndexBytes: 512 } }),
      { code: 'E_INDEX_TOO_LARGE' },
    );
    const at = Buffer.from(mp4).indexOf('moov', 0, 'latin1');
    const moovSize = Buffer.from(mp4).readUInt32BE(at - 4);
    assert.ok(moovSize > 512, `the fixture's moov is ${moovSize} bytes`);
    // Only the first 4 KB (what the container is) and box headers were read, never the moov whole.
    assert.ok(source.largestRead <= 4096, `largest read ${source.largestRead} bytes`);
  });

  test('a Matroska cluster over the index cap is never read whole: ffmpeg copies it into small ones', async () => {
    const source = recordingSource('v.webm', webm);
    const manifest = await generate({
      source,
      outDir: join(work, 'out-webm-cap'),
      options: { outputs: ['strip'] },
      limits: { maxIndexBytes: 4096 },
    });
    assert.equal(manifest.route, 'remux');
    // The copy to a temporary file reads in bounded chunks; the demuxer never asked for a cluster.
    assert.ok(source.largestRead <= 8 * 1024 * 1024, `largest read ${source.largestRead} bytes`);
  });

  test('a sample the index declares as 256 MB is refused with E_SAMPLE_TOO_LARGE, never read', async () => {
    const source = recordingSource('big-sample.mp4', withFirstSampleSize(mp4, 256 * 1024 * 1024));
    await assert.rejects(generate({ source, outDir: join(work, 'out-sample') }), (error: unknown) => {
      const e = error as { code: string; permanent: boolean };
      assert.equal(e.code, 'E_SAMPLE_TOO_LARGE');
      assert.equal(e.permanent, true);
      return true;
    });
    assert.ok(source.largestRead <= 1024 * 1024, `largest read ${source.largestRead} bytes`);
  });

  test('on-demand frames hold the same caps', async () => {
    const service = new FrameService({ tempDir: work, limits: { maxSampleBytes: 1000 } });
    try {
      const source = recordingSource('v.mp4', mp4);
      await assert.rejects(
        service.frame('v', async () => source, { time: 1, width: 160, mode: 'fast', format: 'jpg' }),
        { code: 'E_SAMPLE_TOO_LARGE' },
      );
      assert.ok(source.largestRead < 64 * 1024, `largest read ${source.largestRead} bytes`);
      const moov = recordingSource('huge-moov.mp4', mp4WithMoovOf(2 ** 40));
      await assert.rejects(
        service.frame('m', async () => moov, { time: 1, width: 160, mode: 'fast', format: 'jpg' }),
        { code: 'E_INDEX_TOO_LARGE' },
      );
    } finally {
      await service.close();
    }
  });

  test('the default caps leave ordinary files alone', async () => {
    await writeFile(join(work, 'copy.mp4'), mp4);
    const manifest = await generate({
      source: { kind: 'file', path: join(work, 'copy.mp4') },
      outDir: join(work, 'out-ok'),
      options: { outputs: ['strip'] },
    });
    assert.equal(manifest.outputs[0]!.kind, 'strip');
  });
});

/**
 * The decode run starts while its selection file is written (ffmpeg loads meanwhile): a selection
 * that cannot be written must stop it, and be the error reported.
 */
describe('a selection that cannot be written stops the decode run', () => {
  test('a keyframe past the first declared as 256 MB -> E_SAMPLE_TOO_LARGE, not a canceled ffmpeg', async () => {
    // 25 fps, a keyframe every 50 frames: sample 50 is the keyframe at 2 s, one of the strip's.
    const source = recordingSource('late-big-sample.mp4', withSampleSize(mp4, 50, 256 * 1024 * 1024));
    const outDir = join(work, 'out-late-sample');
    await assert.rejects(
      generate({ source, outDir, options: { outputs: ['strip'], cols: 4, rows: 1, width: 160 } }),
      { code: 'E_SAMPLE_TOO_LARGE' },
    );
    assert.ok(source.largestRead <= 1024 * 1024, `largest read ${source.largestRead} bytes`);
    assert.equal(existsSync(outDir), false, 'nothing written');
  });

  test("storage failing in the middle of the selection -> its error (retried later), not the decoder's", async () => {
    let failed = 0;
    const source = {
      ...recordingSource('outage.mp4', mp4),
      async read(start: number, end: number) {
        // The index and the first keyframe are at the front; the strip's last tiles are not.
        if (end > mp4.byteLength * 0.75) {
          failed++;
          throw new ThumbnailerError('E_STORAGE_UNAVAILABLE', 'the storage account is unreachable');
        }
        return mp4.subarray(start, end);
      },
    };
    const outDir = join(work, 'out-outage');
    await assert.rejects(
      generate({ source, outDir, options: { outputs: ['strip'], cols: 4, rows: 1, width: 160 } }),
      (error: unknown) => {
        assert.equal((error as ThumbnailerError).code, 'E_STORAGE_UNAVAILABLE');
        assert.equal((error as ThumbnailerError).permanent, false);
        return true;
      },
    );
    assert.ok(failed > 0, 'a read failed');
    assert.equal(existsSync(outDir), false, 'nothing written');
  });
});
