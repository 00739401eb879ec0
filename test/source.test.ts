import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { mediabunny } from '../src/engine/mediabunny.js';
import { openByteSource, type ReadPattern } from '../src/engine/source.js';
import { ffmpeg } from './support/media.js';

/**
 * How the demuxer's reads reach the bytes: a MediaRecorder upload (no cues, no duration in the
 * header) is walked cluster by cluster to find its duration.
 */
let work: string;
let recording: Uint8Array;

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'thumbnailer-source-'));
  const path = join(work, 'recording.webm');
  await ffmpeg([
    ...['-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=s=320x180:r=30:d=20'],
    ...['-c:v', 'libvpx', '-deadline', 'realtime', '-g', '100000', '-pix_fmt', 'yuv420p'],
    ...['-f', 'webm', '-live', '1', '-cluster_time_limit', '1000', path],
  ]);
  recording = await readFile(path);
});
after(() => rm(work, { recursive: true, force: true }));

/** The recording's duration through `pattern`, and the reads that reached the bytes. */
async function durationThrough(pattern: ReadPattern) {
  const reads: number[] = [];
  const bytes = await openByteSource({
    kind: 'ranged',
    name: 'recording.webm',
    size: recording.length,
    read: async (start, end) => {
      reads.push(end - start);
      return recording.subarray(start, end);
    },
  });
  const input = new (mediabunny().Input)({
    source: bytes.demuxerSource(64 * 1024 * 1024, pattern),
    formats: [mediabunny().WEBM],
  });
  try {
    const track = (await input.getPrimaryVideoTrack())!;
    assert.equal(await track.getDurationFromMetadata(), null, 'no duration in the header');
    return { duration: await track.computeDuration(), reads };
  } finally {
    input.dispose();
  }
}

describe('demuxer reads', () => {
  test('read-ahead finds the same duration in a tenth of the reads; exact reads never go past a request', async () => {
    const exact = await durationThrough('exact');
    const ahead = await durationThrough('readAhead');
    assert.ok(Math.abs(exact.duration - 20) < 0.1, `duration ${exact.duration}`);
    assert.equal(ahead.duration, exact.duration);
    assert.ok(exact.reads.length > 40, `${exact.reads.length} exact reads (a cluster a second)`);
    assert.ok(
      ahead.reads.length * 10 <= exact.reads.length,
      `${ahead.reads.length} reads ahead against ${exact.reads.length} exact`,
    );
    // Exact reads: element headers and clusters, never a whole file.
    assert.ok(Math.max(...exact.reads) < recording.length / 4);
  });
});
