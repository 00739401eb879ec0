import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  ENCODINGS,
  animatedBranch,
  decodeJobArgs,
  encodedFramesBranch,
  rawFramesBranch,
  scoringBranch,
  sheetBranch,
  stillFromRawArgs,
} from '../src/engine/compose.js';
import {
  MARK_CODES,
  chooseRoute,
  nextTimeCode,
  outputMask,
  planFrames,
  selectMarks,
  selectTimes,
  type PickedFrame,
} from '../src/engine/frameplan.js';
import type { InputFacts } from '../src/engine/types.js';

/** A video of 25 fps with a keyframe every `gop` frames; frame n at n/25 s. */
function pickAt(frame: number, gop: number, keyframeOnly = false): PickedFrame {
  const key = Math.floor(frame / gop) * gop;
  const ref = (n: number) => ({ timestamp: n / 25, sequenceNumber: n });
  return {
    target: frame / 25,
    actual: frame / 25,
    keyframeOnly,
    frame: ref(frame),
    start: ref(keyframeOnly ? frame : key),
  };
}

describe('frame plan: the union of every output', () => {
  test('a frame two outputs want is decoded once and feeds both', () => {
    const plan = planFrames([
      { id: 'strip', picks: [pickAt(10, 100), pickAt(60, 100), pickAt(150, 100)] },
      { id: 'poster', picks: [pickAt(60, 100), pickAt(160, 100)] },
    ]);
    assert.deepEqual(
      plan.marks.map((m) => m.frame.sequenceNumber),
      [10, 60, 150, 160],
    );
    assert.deepEqual(plan.marks[1]!.outputs, [0, 1]);
    assert.deepEqual(plan.outputs[0]!.marks, [0, 1, 2]);
    assert.deepEqual(plan.outputs[1]!.marks, [1, 3]);
    // Marks sharing a keyframe are one segment: frames 10 and 60 from key 0, 150 and 160 from key 100.
    assert.deepEqual(
      plan.segments.map((s) => [s.start.sequenceNumber, s.marks]),
      [
        [0, [0, 1]],
        [100, [2, 3]],
      ],
    );
    assert.equal(plan.repeats, false);
  });

  test('a frame one output wants twice becomes two marks, each decoded on its own', () => {
    const plan = planFrames([{ id: 'strip', picks: [pickAt(0, 1000), pickAt(0, 1000), pickAt(1, 1000)] }]);
    assert.equal(plan.marks.length, 3);
    assert.equal(plan.repeats, true);
    assert.deepEqual(plan.outputs[0]!.marks, [0, 1, 2]);
    assert.equal(plan.segments.length, 2, 'the repeated frame starts a new segment');
  });

  test('a keyframe taken alone by one output is decoded alone for all', () => {
    const plan = planFrames([
      { id: 'strip', picks: [pickAt(100, 100, true)] },
      { id: 'animated', picks: [pickAt(100, 100), pickAt(101, 100)] },
    ]);
    assert.equal(plan.marks.length, 2);
    assert.equal(plan.marks[0]!.keyframeOnly, true);
    assert.deepEqual(
      plan.segments.map((s) => s.marks),
      [[0, 1]],
    );
  });
});

describe('cost model', () => {
  const input = { frameRate: 25, firstTimestamp: 0, sequentialPossible: true };

  test('one keyframe: one pass beats copying the whole file through a selection', () => {
    const picks = Array.from({ length: 50 }, (_, i) => pickAt(30 + i * 60, 100_000));
    const choice = chooseRoute(planFrames([{ id: 'strip', picks }]), input);
    assert.equal(choice.route, 'sequential');
    assert.equal(choice.keyframesOnly, false);
    assert.equal(choice.seekFrames, choice.sequentialFrames);
  });

  test('tiles on keyframes of a long video: seeking to them beats a pass over every keyframe', () => {
    // 60 minutes, a keyframe every 4 s: 900 keyframes, 50 of them wanted.
    const picks = Array.from({ length: 50 }, (_, i) => pickAt(i * 18 * 100, 100, true));
    const choice = chooseRoute(planFrames([{ id: 'strip', picks }]), { ...input, keyframesToLastMark: 900 });
    assert.equal(choice.route, 'seek');
    assert.equal(choice.seekFrames, 50);
    assert.equal(choice.sequentialFrames, 900);
  });

  test('no local file, repeated frames or too many marks: seek', () => {
    const picks = Array.from({ length: 10 }, (_, i) => pickAt(i * 10, 100_000));
    const plan = planFrames([{ id: 'strip', picks }]);
    assert.equal(chooseRoute(plan, { ...input, sequentialPossible: false }).route, 'seek');
    const repeated = planFrames([{ id: 'strip', picks: [pickAt(5, 1000), pickAt(5, 1000)] }]);
    assert.equal(chooseRoute(repeated, input).route, 'seek');
    const many = Array.from({ length: 1200 }, (_, i) => pickAt(i, 100_000));
    assert.equal(chooseRoute(planFrames([{ id: 'animated', picks: many }]), input).route, 'seek');
  });
});

describe('selection time codes', () => {
  test('marks carry their mask; no other packet can look like a mark', () => {
    let cursor = 0;
    const codes: { ms: number; mask?: number }[] = [];
    for (let i = 0; i < 3000; i++) {
      const mask = i % 700 === 0 ? outputMask([0, 2]) : undefined;
      cursor = nextTimeCode(cursor, mask);
      codes.push({ ms: cursor, mask });
    }
    for (let i = 1; i < codes.length; i++) assert.ok(codes[i]!.ms > codes[i - 1]!.ms, 'strictly increasing');
    for (const { ms, mask } of codes) {
      if (mask === undefined) assert.ok(ms % 1000 >= MARK_CODES, `plain packet at ${ms}`);
      else assert.equal(ms % 1000, mask);
    }
    assert.equal(outputMask([0, 2]), 5);
  });

  test('select expressions: one short expression per output, a balanced sum of times', () => {
    assert.equal(
      selectMarks(4),
      "select='lt(mod(round(t*1000)\\,1000)\\,256)*bitand(mod(round(t*1000)\\,1000)\\,4)'",
    );
    const expression = selectTimes([1, 2, 3, 4], 0.02);
    assert.equal(
      expression,
      "select='((lt(abs(t-1.000000)\\,0.020000)+lt(abs(t-2.000000)\\,0.020000))+(lt(abs(t-3.000000)\\,0.020000)+lt(abs(t-4.000000)\\,0.020000)))'",
    );
    // Depth grows with log2 of the number of times, not with the number.
    const deep = selectTimes(
      Array.from({ length: 1000 }, (_, i) => i),
      0.01,
    );
    let depth = 0;
    let max = 0;
    for (const c of deep) {
      if (c === '(') max = Math.max(max, ++depth);
      if (c === ')') depth--;
    }
    assert.ok(max <= 12, `nesting ${max}`);
  });
});

const facts: InputFacts = {
  name: 'v.mp4',
  size: 1,
  container: 'mp4',
  duration: 10,
  codec: 'h264',
  width: 1920,
  height: 1080,
  displayWidth: 1920,
  displayHeight: 1080,
  rotation: 90,
  sampleAspectRatio: '1:1',
  interlaced: false,
  hasAudio: false,
};
const limits = { maxPixels: 1000, ffmpegThreads: 3 };

describe('one ffmpeg run for every output (compose)', () => {
  const spec = { cols: 10, rows: 5, padding: 0, margin: 0, color: 'black', quality: 10 };
  const branches = [
    scoringBranch(selectMarks(255), facts, { width: 64, height: 36 }, 'all'),
    sheetBranch(selectMarks(1), facts, { width: 600, height: 338 }, spec, '/o/strip.jpg', 'one'),
    sheetBranch(selectMarks(2), facts, { width: 160, height: 90 }, spec, '/o/storyboard-%d.jpg', 'pattern'),
    rawFramesBranch(
      selectMarks(4),
      facts,
      { width: 1280, height: 720 },
      ENCODINGS.poster(),
      '/w/candidates.raw',
    ),
    animatedBranch(selectMarks(8), facts, { width: 320, height: 180 }, 'gif', 10, '/o/preview.gif'),
  ];

  test('selection input: split once, a branch per output, each mapped to its own file', () => {
    const args = decodeJobArgs({ kind: 'selection', path: '/w/selection.mkv' }, branches, limits);
    const graph = args[args.indexOf('-filter_complex') + 1]!;
    assert.ok(graph.startsWith('[0:v:0]split=5[s0][s1][s2][s3][s4];'));
    assert.equal(args.filter((a) => a === '-map').length, 5);
    assert.deepEqual(args.slice(0, 6), [
      '-protocol_whitelist',
      'file',
      '-format_whitelist',
      'matroska',
      '-f',
      'matroska',
    ]);
    assert.ok(args.includes('file:/w/selection.mkv'));
    assert.ok(!args.includes('-skip_frame'));
    // Rotation by our own filters, in every branch.
    assert.equal(graph.match(/transpose=clock/g)?.length, 5);
    // A single sheet is one image; full sheets a numbered series from 0; GIF gets its palette.
    assert.ok(
      args
        .join(' ')
        .includes('-frames:v 1 -c:v mjpeg -q:v 10 -threads 1 -f image2 -update 1 -y file:/o/strip.jpg'),
    );
    assert.ok(args.join(' ').includes('-f image2 -start_number 0 -y file:/o/storyboard-%d.jpg'));
    assert.ok(graph.includes('palettegen') && graph.includes('paletteuse'));
    assert.equal(args.at(-1), 'file:/o/preview.gif');
    // Poster candidates are written uncompressed, one after the other: only the chosen one is encoded.
    assert.ok(
      args.join(' ').includes('-c:v rawvideo -f rawvideo -flush_packets 1 -y file:/w/candidates.raw'),
    );
    assert.ok(graph.includes('format=yuvj420p[o3]'));
  });

  test('a selection streamed to stdin: only the pipe protocol; JPEG poster candidates numbered from 0', () => {
    const withJpegCandidates = branches.map((b, i) =>
      i === 3
        ? encodedFramesBranch(
            selectMarks(4),
            facts,
            { width: 1280, height: 720 },
            ENCODINGS.poster(),
            '/w/poster-%02d.jpg',
          )
        : b,
    );
    const args = decodeJobArgs({ kind: 'selection', path: 'stdin' }, withJpegCandidates, limits);
    assert.deepEqual(args.slice(0, 2), ['-protocol_whitelist', 'pipe']);
    assert.equal(args[args.indexOf('-i') + 1], 'pipe:0');
    assert.ok(!args.some((a) => a.includes('selection')));
    assert.ok(
      args
        .join(' ')
        .includes('-c:v mjpeg -q:v 2 -threads 1 -f image2 -start_number 0 -y file:/w/poster-%02d.jpg'),
    );
    const graph = args[args.indexOf('-filter_complex') + 1]!;
    assert.ok(graph.includes('format=yuvj420p[o3]'), graph);
  });

  test('grey frames: only the poster candidates scored properly, the other marks a stand-in, back in time order', () => {
    const branch = scoringBranch(selectMarks(255), facts, { width: 64, height: 36 }, selectMarks(4));
    const args = decodeJobArgs({ kind: 'selection', path: 'stdin' }, [branch, branches[1]!], limits);
    const graph = args[args.indexOf('-filter_complex') + 1]!;
    const scored = `select='lt(mod(round(t*1000)\\,1000)\\,256)*bitand(mod(round(t*1000)\\,1000)\\,4)'`;
    assert.ok(graph.includes(`[s0a]${scored},`), graph);
    assert.ok(graph.includes(`[s0b]select='not(lt(`), graph);
    assert.ok(graph.includes('[s0p][s0q]interleave[o0]'), graph);
    // The scored half is corrected (rotation here); the stand-in is not.
    const properHalf = /;\[s0a\](.*?)\[s0p\]/.exec(graph)?.[1] ?? '';
    const standInHalf = /;\[s0b\](.*?)\[s0q\]/.exec(graph)?.[1] ?? '';
    assert.match(properHalf, /^select='lt\(.*transpose=clock,setsar=1,format=gray$/);
    assert.match(standInHalf, /^select='not\(.*\)',scale=64:36:flags=neighbor,setsar=1,format=gray$/);
    assert.equal(args.filter((a) => a === 'pipe:1').length, 1);
    // Nothing scored: the stand-in alone; everything scored: the proper chain alone.
    const none = scoringBranch(selectMarks(255), facts, { width: 64, height: 36 }, 'none');
    assert.deepEqual(none.filters, ['scale=64:36:flags=neighbor', 'setsar=1', 'format=gray']);
    assert.equal(none.subgraph, undefined);
  });

  test('the chosen poster candidate: frame n of the raw file, read with its own size and pixel format', () => {
    const args = stillFromRawArgs(
      '/w/candidates.raw',
      { width: 1280, height: 720 },
      ENCODINGS.poster('webp'),
      7,
      '/o/poster.webp',
    );
    const text = args.join(' ');
    assert.ok(text.startsWith('-protocol_whitelist file -format_whitelist rawvideo -f rawvideo'));
    assert.ok(text.includes('-pix_fmt yuv420p -video_size 1280x720 -i file:/w/candidates.raw'));
    assert.ok(text.includes('-vf select=eq(n\\,7) -vsync passthrough -frames:v 1 -c:v libwebp'));
    assert.equal(args.at(-1), 'file:/o/poster.webp');
  });

  test('source input: its demuxer alone, no autorotation, keyframes only when asked, read up to the last frame', () => {
    const args = decodeJobArgs(
      { kind: 'source', path: '/v/in.mp4', demuxer: 'mov', keyframesOnly: true, readSeconds: 12.5 },
      branches,
      limits,
    );
    const input = args.slice(0, args.indexOf('-filter_complex_threads'));
    assert.deepEqual(input, [
      '-protocol_whitelist',
      'file',
      '-format_whitelist',
      'mov',
      '-f',
      'mov',
      '-noautorotate',
      '-max_pixels',
      '1000',
      // The decoder and the filter graph on the CPUs given, not ffmpeg's host cores + 1.
      '-threads',
      '3',
      '-copyts',
      '-skip_frame',
      'nokey',
      '-t',
      '12.500',
      '-i',
      'file:/v/in.mp4',
    ]);
    assert.equal(args[args.indexOf('-filter_complex_threads') + 1], '3');
  });

  test('the deblocking filter is skipped only for keyframes alone (no frame refers to another)', () => {
    const source = { kind: 'source', path: '/v/in.mp4', demuxer: 'mov', readSeconds: 12.5 } as const;
    const skipped = (input: Parameters<typeof decodeJobArgs>[0]) => {
      const args = decodeJobArgs(input, branches, limits);
      const at = args.indexOf('-skip_loop_filter');
      return at >= 0 && args[at + 1] === 'all' && at < args.indexOf('-i');
    };
    assert.equal(skipped({ ...source, keyframesOnly: true, skipLoopFilter: true }), true);
    // A pass over every frame: P and B frames refer to the keyframes, so an error would drift.
    assert.equal(skipped({ ...source, keyframesOnly: false, skipLoopFilter: true }), false);
    assert.equal(skipped({ kind: 'selection', path: 'stdin', skipLoopFilter: true }), true);
    assert.equal(skipped({ kind: 'selection', path: 'stdin' }), false);
  });
});
