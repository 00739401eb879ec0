import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Registry } from 'prom-client';
import webvtt from 'webvtt-parser';
import { runLoop } from '../fuzz/loop.js';
import type { FuzzTarget } from '../fuzz/target.js';
import {
  boxCountGuardInstalled,
  lacedFrameGuardInstalled,
  stuckReadGuardInstalled,
} from '../src/engine/mediabunny.js';
import { parseGenerateOptions } from '../src/engine/options.js';
import { evenlySpacedTimes, planStoryboard, storyboardVtt } from '../src/engine/plan.js';
import { openByteSource } from '../src/engine/source.js';
import type { InputFacts } from '../src/engine/types.js';
import { openTrackIndex } from '../src/engine/video.js';
import { ThumbnailerError } from '../src/errors.js';
import { buildApp } from '../src/hosts/http/app.js';
import { CITY, ffmpeg } from './support/media.js';
import { ROOT } from './support/worker.js';

/**
 * What `npm run fuzz` found (fuzz/ and docs/security.md, "Fuzzing"), one named test each, with the
 * input it found where the input is a file (fuzz/corpus/<target>/found-*); and the harness itself:
 * its coverage guidance finds a planted bug, and every target keeps its contract on its corpus.
 */

const corpusFile = (target: string, name: string) => join(ROOT, 'fuzz', 'corpus', target, name);

/** Runs the fuzz CLI in its own process, so that a hang is a failed test, not a stalled run. */
function fuzzCli(args: string[], timeoutMs: number) {
  const run = spawnSync(process.execPath, ['--import', 'tsx', 'fuzz/run.ts', ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: timeoutMs,
  });
  return { status: run.status, signal: run.signal, output: `${run.stdout}${run.stderr}` };
}

/** A file's track index from its bytes in memory, with the caps given. */
async function indexInMemory(file: string, maxIndexBytes: number, maxSampleBytes: number) {
  const data = new Uint8Array(readFileSync(file));
  const bytes = await openByteSource({
    kind: 'ranged',
    name: file,
    size: data.length,
    read: async (start, end) => data.slice(start, end),
  });
  const opened = await openTrackIndex(bytes.demuxerSource(maxIndexBytes), maxSampleBytes);
  assert.ok(opened, 'the track opens');
  return opened;
}

/** The index path of the media target: demuxer, frame index, the picks of a strip. */
async function pickFrom(file: string) {
  const opened = await indexInMemory(file, 1024 * 1024, 128 * 1024);
  try {
    const end =
      (await opened.track.getDurationFromMetadata().catch(() => null)) ??
      (await opened.track.computeDuration());
    return await opened.index.pick(evenlySpacedTimes(end - opened.start, 10), 'fast');
  } finally {
    opened.input.dispose();
  }
}

const isCode = (code: string) => (error: unknown) => ThumbnailerError.is(error) && error.code === code;

describe('found by fuzzing: media', () => {
  test('a Matroska file whose lookup resyncs into its last bytes is corrupt, not a demuxer spinning forever', () => {
    // mediabunny 1.61 asks for the same 8 bytes forever, from its cache: the event loop stops. So
    // each file goes through the media target in a process of its own, which a hang cannot stall.
    assert.ok(stuckReadGuardInstalled(), "the guard on mediabunny's reader is in place");
    for (const name of ['found-resync-spin.mkv', 'found-resync-spin-2.mkv', 'found-cluster-cycle.mkv']) {
      const run = fuzzCli(['--target', 'media', '--reproduce', corpusFile('media', name)], 120_000);
      assert.equal(run.status, 0, `${name}: ${run.signal ?? ''} ${run.output.slice(-2000)}`);
      assert.match(run.output, /the contract holds .*E_CORRUPT_VIDEO/, name);
    }
  });

  test('an MP4 whose stsc claims billions of samples a chunk is corrupt, not a lookup of billions of steps', () => {
    // One track with samples, one whose stsz lists none.
    for (const name of ['found-stsc-huge-chunk.mov', 'found-stsc-no-sizes.mp4']) {
      const run = fuzzCli(['--target', 'media', '--reproduce', corpusFile('media', name)], 120_000);
      assert.equal(run.status, 0, `${name}: ${run.signal ?? ''} ${run.output.slice(-2000)}`);
      assert.match(run.output, /the contract holds .*E_CORRUPT_VIDEO/, name);
    }
  });

  test("packets whose keyframe flags contradict their order: the selection muxer's refusal is E_CORRUPT_VIDEO", () => {
    const run = fuzzCli(
      ['--target', 'media', '--reproduce', corpusFile('media', 'found-gop-order.webm')],
      120_000,
    );
    assert.equal(run.status, 0, `${run.signal ?? ''} ${run.output.slice(-2000)}`);
    assert.match(run.output, /the contract holds .*E_CORRUPT_VIDEO/);
  });

  test('an MP4 whose box counts samples its bytes cannot hold is refused or trimmed, not a loop of billions', () => {
    // mediabunny 1.61 makes one object per counted sample: without the guard each of these hangs
    // or runs out of memory. The fuzzer found the first (a fragment run of no per-sample fields);
    // the others are the same count in the other boxes where no byte bounds it, made from seeds.
    assert.ok(boxCountGuardInstalled(), "the guard on mediabunny's MP4 demuxer is in place");
    const work = mkdtempSync(join(tmpdir(), 'fuzz-counts-'));
    const mutant = (
      seed: string,
      name: string,
      change: (file: Buffer, fields: (box: string) => number) => void,
    ) => {
      const file = Buffer.from(readFileSync(corpusFile('media', seed)));
      const fields = (box: string) => {
        const at = file.indexOf(box, 0, 'latin1');
        assert.ok(at > 0, `${seed} has a ${box} box`);
        return at + 4;
      };
      change(file, fields);
      writeFileSync(join(work, name), file);
      return join(work, name);
    };
    const MANY = 0xffffffff;
    const cases: [string, RegExp][] = [
      [corpusFile('media', 'found-trun-count-no-fields.mp4'), /E_CORRUPT_VIDEO/],
      // The same run with a default sample size of 0: four billion empty samples.
      [
        mutant('h264-fragmented.mp4', 'trun-size-0.mp4', (file, fields) => {
          const run = fields('trun');
          file.writeUInt32BE(file.readUInt32BE(run) & 0xff0000ff, run); // no per-sample field
          file.writeUInt32BE(MANY, run + 4);
          file.writeUInt32BE(0, fields('tfhd') + 20); // base offset, duration, then the size
        }),
        /E_CORRUPT_VIDEO/,
      ],
      // A run listing 100 000 sizes: 400 KB fit a 1 MiB index, the 200 bytes each costs in memory
      // do not.
      [
        (() => {
          const sizes = mp4Box('trun', u32(0x200, 100_000), Buffer.alloc(400_000));
          const moof = mp4Box('moof', mp4Box('traf', mp4Box('tfhd', u32(0x28, 1, 512, 0)), sizes));
          const file = Buffer.concat([readFileSync(corpusFile('media', 'h264-fragmented.mp4')), moof]);
          writeFileSync(join(work, 'trun-100k.mp4'), file);
          return join(work, 'trun-100k.mp4');
        })(),
        /E_INDEX_TOO_LARGE/,
      ],
      // stsz of explicit sizes renamed stz2: fields of 0 bits, then four billion of them.
      [
        mutant('h264-faststart.mp4', 'stz2-0-bits.mp4', (file, fields) => {
          const sizes = fields('stsz');
          file.write('stz2', sizes - 4, 'latin1');
          file.writeUInt32BE(MANY, sizes + 8);
        }),
        /E_CORRUPT_VIDEO/,
      ],
      [
        mutant('h264-faststart.mp4', 'stsz-constant.mp4', (file, fields) => {
          file.writeUInt32BE(1, fields('stsz') + 4);
          file.writeUInt32BE(MANY, fields('stsz') + 8);
        }),
        /E_CORRUPT_VIDEO/,
      ],
      // Runs past the samples there are are trimmed: the video's own frames are planned.
      [
        mutant('h264-bframes.mp4', 'stts-run.mp4', (file, fields) => {
          fields('ctts');
          file.writeUInt32BE(MANY, fields('stts') + 8);
        }),
        /planned/,
      ],
      [
        mutant('h264-bframes.mp4', 'ctts-run.mp4', (file, fields) =>
          file.writeUInt32BE(MANY, fields('ctts') + 8),
        ),
        /planned/,
      ],
    ];
    try {
      for (const [file, outcome] of cases) {
        const run = fuzzCli(['--target', 'media', '--reproduce', file], 120_000);
        assert.equal(run.status, 0, `${file}: ${run.signal ?? ''} ${run.output.slice(-2000)}`);
        assert.match(run.output, new RegExp(`the contract holds .*${outcome.source}`), file);
      }
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });

  test('a RangeError of the demuxer in a lookup after the open is E_CORRUPT_VIDEO, not an internal error', async () => {
    await assert.rejects(
      pickFrom(corpusFile('media', 'found-slice-range-error.webm')),
      isCode('E_CORRUPT_VIDEO'),
    );
  });
});

/** An MP4 box: size, type, then its parts. */
function mp4Box(type: string, ...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  const head = Buffer.alloc(8);
  head.writeUInt32BE(8 + body.length);
  head.write(type, 4, 'latin1');
  return Buffer.concat([head, body]);
}

function u32(...values: number[]): Buffer {
  const out = Buffer.alloc(4 * values.length);
  values.forEach((value, at) => out.writeUInt32BE(value, 4 * at));
  return out;
}

/** A fragment of `count` samples of the defaults (no per-sample field), `tfhd` flags as given. */
const tinyMoof = (count: number, tfhd: number[]) =>
  mp4Box('moof', mp4Box('traf', mp4Box('tfhd', u32(...tfhd)), mp4Box('trun', u32(0, count))));

/**
 * Runs a file through the index route with the engine's default caps (64 MiB of index), in a process
 * of its own: `outcome` is the error code or "planned", or undefined when it did not end in time.
 */
function openWithDefaults(file: string, timeoutMs: number): string | undefined {
  const script = `
    import { openByteSource } from './src/engine/source.ts';
    import { openTrackIndex } from './src/engine/video.ts';
    import { DEFAULT_LIMITS } from './src/engine/options.ts';
    import { evenlySpacedTimes } from './src/engine/plan.ts';
    const bytes = await openByteSource({ kind: 'file', path: ${JSON.stringify(file)} });
    try {
      const opened = await openTrackIndex(bytes.demuxerSource(DEFAULT_LIMITS.maxIndexBytes), DEFAULT_LIMITS.maxSampleBytes);
      const end = await opened.track.computeDuration();
      await opened.index.pick(evenlySpacedTimes(end - opened.start, 6), 'accurate');
      console.log('outcome planned');
    } catch (error) { console.log('outcome', error.code ?? error.message); }
    await bytes.close();`;
  const run = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: timeoutMs,
  });
  return /^outcome (\S+)/m.exec(run.stdout)?.[1];
}

describe('found by attacking the guards: MP4 work no byte bounds', () => {
  const work = mkdtempSync(join(tmpdir(), 'guard-attacks-'));
  after(() => rmSync(work, { recursive: true, force: true }));
  const seed = (name: string) => readFileSync(corpusFile('media', name));
  const write = (name: string, data: Buffer) => {
    writeFileSync(join(work, name), data);
    return join(work, name);
  };

  test('fragments of empty samples, or more samples in all than the file has bytes, are corrupt', () => {
    // Each fragment is 56 bytes and claims thousands of samples: 200 fragments of 335 000 took
    // 20 s and 1.4 GB; 16 000 of 5 200 more than a minute on a first run.
    const empty = write(
      'empty-runs.mp4',
      Buffer.concat([
        seed('h264-fragmented.mp4'),
        ...Array.from({ length: 200 }, () => tinyMoof(335_000, [0x28, 1, 512, 0])),
      ]),
    );
    const sized = write(
      'one-byte-runs.mp4',
      Buffer.concat([
        seed('h264-fragmented.mp4'),
        ...Array.from({ length: 400 }, () => tinyMoof(5_000, [0x38, 1, 512, 1, 0])),
      ]),
    );
    for (const file of [empty, sized]) {
      const run = fuzzCli(['--target', 'media', '--reproduce', file], 120_000);
      assert.match(run.output, /the contract holds .*E_CORRUPT_VIDEO/, `${file}: ${run.output.slice(-1000)}`);
      assert.equal(openWithDefaults(file, 120_000), 'E_CORRUPT_VIDEO', file);
    }
  });

  test('a track stored as one chunk is read as the interleaved file is, sample by sample', async () => {
    // mediabunny added up a chunk's sizes for every sample looked up: quadratic on a GOP walk.
    const oneChunk = join(work, 'one-chunk.mp4');
    await ffmpeg([
      '-v',
      'error',
      '-i',
      CITY,
      '-an',
      '-c',
      'copy',
      '-chunk_duration',
      '1000000000',
      '-chunk_size',
      '2000000000',
      oneChunk,
    ]);
    const frames = async (file: string) => {
      const opened = await indexInMemory(file, 64 * 1024 * 1024, 8 * 1024 * 1024);
      try {
        const table = (
          opened.track as unknown as {
            _backing: { internalTrack: { sampleTable: { sampleToChunk: { samplesPerChunk: number }[] } } };
          }
        )._backing.internalTrack.sampleTable;
        const picks = await opened.index.pick(evenlySpacedTimes(7, 10), 'accurate');
        return {
          picks: JSON.stringify(picks),
          longestChunk: Math.max(...table.sampleToChunk.map((entry) => entry.samplesPerChunk)),
        };
      } finally {
        opened.input.dispose();
      }
    };
    const [single, interleaved] = [await frames(oneChunk), await frames(CITY)];
    assert.equal(single.longestChunk, 1, 'the one chunk of 190 samples is split');
    assert.equal(single.picks, interleaved.picks);
  });

  test('a tfra of one time repeated is skipped, not de-duplicated one splice at a time', () => {
    // 270 000 entries of time 0 took 27 s of a blocked event loop; a million, minutes.
    const file = seed('h264-fragmented.mp4');
    const mfraAt = file.lastIndexOf('mfra', file.length, 'latin1') - 4;
    const entries = Buffer.alloc(1_000_000 * 11);
    const tfra = mp4Box('tfra', u32(0, 1, 0, 1_000_000), entries);
    const mfra = mp4Box('mfra', tfra, mp4Box('mfro', u32(0, 8 + tfra.length + 16)));
    const repeated = write('tfra-repeats.mp4', Buffer.concat([file.subarray(0, mfraAt), mfra]));
    assert.equal(openWithDefaults(repeated, 120_000), 'planned');
  });

  test('a constant sample size with composition offsets counts at what each listed time costs', () => {
    // 16 million samples of 1 byte in 16 MB of zeros took 1.5 GB once their times were listed.
    const file = Buffer.from(seed('h264-bframes.mp4'));
    const fields = (box: string) => file.indexOf(box, 0, 'latin1') + 4;
    const count = 1_000_000;
    file.writeUInt32BE(1, fields('stsz') + 4);
    file.writeUInt32BE(count, fields('stsz') + 8);
    file.writeUInt32BE(count, fields('stts') + 8);
    const padding = Buffer.alloc(count + 16);
    padding.writeUInt32BE(padding.length);
    padding.write('free', 4, 'latin1');
    const constant = write('constant-ctts.mp4', Buffer.concat([file, padding]));
    // At 4 bytes a sample a million would fit the 64 MiB cap; at 80 they do not.
    assert.equal(openWithDefaults(constant, 120_000), 'E_INDEX_TOO_LARGE');
  });
});

describe('found by attacking the guards: Matroska', () => {
  const work = mkdtempSync(join(tmpdir(), 'guard-attacks-mkv-'));
  after(() => rmSync(work, { recursive: true, force: true }));

  /** The Cues-first seed, its Cues made Void and `blocks` more SimpleBlocks in its first cluster. */
  function withBlocks(name: string, block: Buffer, blocks: number): string {
    const seed = Buffer.from(readFileSync(corpusFile('media', 'h264-cues-front.mkv')));
    const size8 = (n: number) => {
      const out = Buffer.alloc(8);
      out[0] = 0x01;
      out.writeUIntBE(n, 2, 6);
      return out;
    };
    seed.set([0xec, 0x10, 0x00, 0x00, 76], 658); // the Cues element becomes a Void of its size
    const [cluster, header, size] = [739, 6, 1273];
    assert.equal(seed.readUInt32BE(cluster), 0x1f43b675, 'the first cluster is where it was');
    const body = Buffer.concat([
      seed.subarray(cluster + header, cluster + header + size),
      ...Array<Buffer>(blocks).fill(block),
    ]);
    const file = Buffer.concat([
      seed.subarray(0, cluster),
      Buffer.from([0x1f, 0x43, 0xb6, 0x75]),
      size8(body.length),
      body,
      seed.subarray(cluster + header + size),
    ]);
    size8(file.length - 52).copy(file, 44); // the segment's size
    writeFileSync(join(work, name), file);
    return join(work, name);
  }

  const size8 = (n: number) => {
    const out = Buffer.alloc(8);
    out[0] = 0x01;
    out.writeUIntBE(n, 2, 6);
    return out;
  };
  /** The seed with `from`..`to` replaced by `part` and the segment's size made right. */
  const replaced = (name: string, from: number, to: number, part: Buffer) => {
    const seed = readFileSync(corpusFile('media', 'h264-cues-front.mkv'));
    const file = Buffer.concat([seed.subarray(0, from), part, seed.subarray(to)]);
    size8(file.length - 52).copy(file, 44);
    writeFileSync(join(work, name), file);
    return join(work, name);
  };

  test('cue points of one time, seek entries and tracks by the thousand end in time', () => {
    // One CuePoint of a million positions at time 0 (300 000 took 41 s), its Cues in place of the
    // seed's (bytes 658 to 739, before the first cluster at 739).
    const positions = (clusterAt: number) => {
      const one = Buffer.concat([
        Buffer.from([0xb7, 0x89, 0xf7, 0x81, 0x01, 0xf1, 0x84]),
        u32(clusterAt - 52),
      ]);
      const inner = Buffer.concat([Buffer.from([0xb3, 0x81, 0x00]), ...Array<Buffer>(1_000_000).fill(one)]);
      const point = Buffer.concat([Buffer.from([0xbb]), size8(inner.length), inner]);
      return Buffer.concat([Buffer.from([0x1c, 0x53, 0xbb, 0x6b]), size8(point.length), point]);
    };
    const grown = positions(739).length - (739 - 658);
    const cues = replaced('cue-repeats.mkv', 658, 739, positions(739 + grown));
    assert.equal(openWithDefaults(cues, 120_000), 'planned');
    // A SeekHead of 200 000 entries each naming another place (55 000 took 38 s), for the seed's
    // 69-byte one at byte 52.
    const entries = Array.from({ length: 200_000 }, (_, i) =>
      Buffer.concat([
        Buffer.from([0x4d, 0xbb, 0x8e, 0x53, 0xab, 0x84, 0x11, 0x4d, 0x9b, 0x74, 0x53, 0xac, 0x84]),
        u32(i + 1),
      ]),
    );
    const body = Buffer.concat(entries);
    const seek = replaced(
      'seek-entries.mkv',
      52,
      52 + 69,
      Buffer.concat([Buffer.from([0x11, 0x4d, 0x9b, 0x74]), size8(body.length), body]),
    );
    assert.equal(openWithDefaults(seek, 120_000), 'planned');
    // 2 000 more tracks after the seed's one (bytes 268 to 403 in the Tracks element at 256).
    const seed = readFileSync(corpusFile('media', 'h264-cues-front.mkv'));
    const extra = Array.from({ length: 2_000 }, (_, i) => {
      const id = Buffer.alloc(3);
      id.writeUIntBE(i + 1000, 0, 3);
      return Buffer.concat([
        Buffer.from([0xae, 0x8d, 0xd7, 0x83]),
        id,
        Buffer.from([0x86, 0x83]),
        Buffer.from('A_X'),
        Buffer.from([0x83, 0x81, 0x02]),
      ]);
    });
    const entriesOfTracks = Buffer.concat([seed.subarray(268, 403), ...extra]);
    const tracks = replaced(
      'many-tracks.mkv',
      256,
      403,
      Buffer.concat([Buffer.from([0x16, 0x54, 0xae, 0x6b]), size8(entriesOfTracks.length), entriesOfTracks]),
    );
    assert.equal(openWithDefaults(tracks, 120_000), 'E_CORRUPT_VIDEO');
  });

  test('laced blocks are expanded one at a time, their frames counted against the index cap', () => {
    // 8 000 blocks of 256 empty frames (60 KB) took 63 s and 2 GB: one splice per frame.
    assert.ok(lacedFrameGuardInstalled(), "the guard on mediabunny's Matroska demuxer is in place");
    const laced = Buffer.from([0xa3, 0x85, 0x81, 0x00, 0x00, 0x84, 0xff]); // fixed lacing, 256 frames
    const many = withBlocks('laced-8000.mkv', laced, 8_000);
    const run = fuzzCli(['--target', 'media', '--reproduce', many], 120_000);
    assert.equal(run.status, 0, run.output.slice(-2000));
    assert.match(run.output, /the contract holds .*E_INDEX_TOO_LARGE/);
    assert.equal(openWithDefaults(many, 120_000), 'E_INDEX_TOO_LARGE');
    // A few laced blocks are frames like any others.
    const few = fuzzCli(['--target', 'media', '--reproduce', withBlocks('laced-10.mkv', laced, 10)], 120_000);
    assert.match(few.output, /the contract holds .*planned/, few.output.slice(-2000));
  });
});

describe('found by fuzzing: writers', () => {
  const facts = (duration: number): InputFacts => ({
    name: 'one-frame.mp4',
    size: 1,
    container: 'mp4',
    duration,
    codec: 'h264',
    width: 640,
    height: 360,
    displayWidth: 640,
    displayHeight: 360,
    rotation: 0,
    sampleAspectRatio: '1:1',
    interlaced: false,
    hasAudio: false,
  });

  test('a storyboard of a video shorter than its tiles has no cue of 0 ms: the VTT is valid', () => {
    const parser = new webvtt.WebVTTParser();
    for (const [duration, options] of [
      [0.0015, { storyboardMinTiles: 84, storyboardInterval: 0.5 }],
      [0, {}],
      [0.004, {}],
      [0.0999, { storyboardMinTiles: 100 }],
    ] as const) {
      const plan = planStoryboard(facts(duration), parseGenerateOptions(options));
      for (const tile of plan.tiles)
        assert.ok(tile.end > tile.start, `a ${duration} s video: ${JSON.stringify(tile)}`);
      const parsed = parser.parse(storyboardVtt(plan), 'metadata');
      assert.deepEqual(parsed.errors, [], `a ${duration} s video`);
      assert.equal(parsed.cues.length, plan.tiles.length);
    }
    // Where a millisecond per tile fits, the tiles asked for are all there.
    assert.equal(
      planStoryboard(facts(0.0999), parseGenerateOptions({ storyboardMinTiles: 90 })).tiles.length,
      90,
    );
  });
});

describe('found by fuzzing: job bodies', () => {
  test('a body field with an empty name is named in the 400, not the whole body', async () => {
    const app = buildApp({
      registry: new Registry(),
      readiness: async () => ({}),
      api: {
        storage: {
          accountName: 'a',
          videoContainer: 'videos',
          thumbnailContainer: 't',
          blobs: {},
          jobs: {},
          queue: {},
        } as never,
        maxUploadBytes: 1000,
        dashboard: false,
      },
    });
    try {
      const response = await app.inject({
        method: 'POST',
        url: '/api/jobs',
        headers: { host: '127.0.0.1', 'content-type': 'application/json' },
        payload: readFileSync(corpusFile('job-bodies', 'found-empty-key')),
      });
      assert.equal(response.statusCode, 400);
      const { error } = response.json() as { error: { code: string; field: string; message: string } };
      assert.equal(error.code, 'E_OPTION_INVALID');
      assert.equal(error.field, '');
      assert.match(error.message, /field "": is not a known field/);
    } finally {
      await app.close();
    }
  });
});

describe('the fuzz harness', () => {
  /** Throws a TypeError on inputs starting with "FUZ": each byte is a branch coverage can see. */
  const planted: FuzzTarget = {
    name: 'planted',
    summary: 'a parser with a planted bug',
    coverage: ['fuzz-regressions.test.ts'],
    maxInputBytes: 64,
    defaultSeconds: 60,
    run(input) {
      if (input[0] === 0x46) {
        if (input[1] === 0x55) {
          if (input[2] === 0x5a) throw new TypeError('planted: "FUZ"');
        }
      }
    },
  };

  test('coverage guidance finds a bug behind three bytes, which blind mutation does not in as many inputs', async () => {
    // Each run in its own folder: a run reads back the inputs an earlier one saved.
    const roots = [0, 1].map(() => mkdtempSync(join(tmpdir(), 'thumbnailer-fuzz-test-')));
    try {
      const options = { seconds: 60, maxInputs: 50_000, seed: 23, replay: false };
      const guided = await runLoop(planted, { ...options, root: roots[0]! });
      assert.match(guided.failure?.message ?? '', /TypeError: planted/);
      const blind = await runLoop(
        { ...planted, coverage: ['no-such-file'] },
        { ...options, root: roots[1]! },
      );
      assert.equal(blind.failure, undefined, 'blind mutation should not find it');
      assert.ok(blind.stats.inputs >= 50_000);
    } finally {
      for (const root of roots) rmSync(root, { recursive: true, force: true });
    }
  });

  test('every target keeps its contract on its committed corpus (seeds and found inputs)', () => {
    const run = fuzzCli(['--replay', '--committed'], 600_000);
    assert.equal(run.status, 0, run.output.slice(-3000));
    assert.match(run.output, /every contract held/);
  });
});
