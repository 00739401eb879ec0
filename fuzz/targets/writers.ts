import { deepStrictEqual } from 'node:assert/strict';
import fc from 'fast-check';
import webvtt from 'webvtt-parser';
import { parseGenerateOptions } from '../../src/engine/options.js';
import {
  MAX_STORYBOARD_SHEETS,
  MAX_STORYBOARD_TILES,
  planStoryboard,
  storyboardJson,
  storyboardVtt,
} from '../../src/engine/plan.js';
import type { InputFacts, Manifest } from '../../src/engine/types.js';
import { assertUsableFacts } from '../../src/engine/verdicts.js';
import { check, expectCoded, Tally, utf8, type FuzzTarget } from '../target.js';

/**
 * The storyboard's WebVTT and JSON writers and the manifest, fed the facts and options of a video
 * (any duration up to the 24 h limit, any picture size and shape the engine accepts, any options
 * the schema accepts) and any name. An input is a JSON object `{ name, duration, width, height,
 * displayWidth, displayHeight, options }`; other bytes become the name. Contract: options are
 * accepted or refused with E_OPTION_INVALID; facts the engine refuses are refused with a code;
 * otherwise the VTT parses with the W3C validator's parser without one error (past 4000 cues, on
 * its first and last 2000), to exactly the tiles
 * (times to the millisecond, `sheet#xywh=` inside that sheet), and the JSON and the manifest parse
 * back (JSON.parse) to what was written, with no value lost (NaN, Infinity, undefined).
 */

const MAX_DURATION = 24 * 3600;
const tally = new Tally();
const vttParser = new webvtt.WebVTTParser();

interface WriterInput {
  name: string;
  duration: number;
  width: number;
  height: number;
  displayWidth: number;
  displayHeight: number;
  options: unknown;
}

function decode(input: Uint8Array): WriterInput {
  const text = utf8(input);
  let value: Partial<WriterInput> = {};
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed))
      value = parsed as Partial<WriterInput>;
  } catch {
    value = { name: text };
  }
  const num = (v: unknown, fallback: number) => (typeof v === 'number' ? v : fallback);
  return {
    name: typeof value.name === 'string' ? value.name : 'video.mp4',
    duration: num(value.duration, 7.6),
    width: num(value.width, 640),
    height: num(value.height, 360),
    displayWidth: num(value.displayWidth, num(value.width, 640)),
    displayHeight: num(value.displayHeight, num(value.height, 360)),
    options: value.options ?? {},
  };
}

/** What JSON keeps of a value: undefined members dropped; NaN and the infinities fail the round trip. */
function withoutUndefined(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutUndefined);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([, v]) => v !== undefined)
        .map(([k, v]) => [k, withoutUndefined(v)]),
    );
  }
  return value;
}

function roundTrips(value: unknown, what: string): void {
  const text = JSON.stringify(value, null, 2);
  try {
    deepStrictEqual(JSON.parse(text), withoutUndefined(value));
  } catch (error) {
    check(
      false,
      `${what} does not parse back to what was written: ${(error as Error).message.slice(0, 400)}`,
    );
  }
}

/** Whole milliseconds: the parser adds up hours, minutes and seconds in floating point. */
const ms = (seconds: number) => Math.round(seconds * 1000);

function runOne(input: Uint8Array): void {
  const w = decode(input);
  let options;
  try {
    options = parseGenerateOptions(w.options);
  } catch (error) {
    expectCoded(error, ['E_OPTION_INVALID']);
    tally.add('options-refused');
    return;
  }
  const facts: InputFacts = {
    name: w.name,
    size: 1000,
    container: 'mp4 (isom)',
    duration: w.duration,
    codec: 'h264',
    width: w.width,
    height: w.height,
    displayWidth: w.displayWidth,
    displayHeight: w.displayHeight,
    rotation: 0,
    sampleAspectRatio: '1:1',
    interlaced: false,
    hasAudio: false,
  };
  try {
    assertUsableFacts(facts);
  } catch (error) {
    expectCoded(error);
    tally.add('facts-refused');
    return;
  }
  // generate() refuses what is past the limits before any writer runs.
  if (!(Number.isFinite(w.duration) && w.duration >= 0 && w.duration <= MAX_DURATION)) {
    tally.add('duration-out-of-limits');
    return;
  }
  const plan = planStoryboard(facts, options);
  // However the options multiply (a day at 0.5 s, one tile a sheet), a plan stays within its caps.
  check(
    plan.tiles.length <= MAX_STORYBOARD_TILES && plan.sheetFiles.length <= MAX_STORYBOARD_SHEETS,
    `a storyboard of ${plan.tiles.length} tiles on ${plan.sheetFiles.length} sheets, past its caps`,
  );
  const vtt = storyboardVtt(plan);
  // The W3C parser takes about 40 us a cue: a VTT of more than 4000 cues is parsed on its first
  // and last 2000 (the same writer wrote the middle).
  const [header, ...cueBlocks] = vtt.trimEnd().split('\n\n');
  const checked = plan.tiles.map((_, i) => i).filter((i) => i < 2000 || i >= plan.tiles.length - 2000);
  const parsed = vttParser.parse(
    checked.length === cueBlocks.length
      ? vtt
      : `${header}\n\n${checked.map((i) => cueBlocks[i]).join('\n\n')}\n`,
    'metadata',
  );
  const where = `duration ${w.duration}, options ${JSON.stringify(w.options).slice(0, 200)}`;
  check(
    cueBlocks.length === plan.tiles.length,
    `the VTT has ${cueBlocks.length} cues for ${plan.tiles.length} tiles (${where})`,
  );
  check(
    parsed.errors.length === 0,
    `the VTT (${where}) has errors: ${JSON.stringify(parsed.errors.slice(0, 3))}`,
  );
  check(
    parsed.cues.length === checked.length,
    `the VTT reads as ${parsed.cues.length} cues for ${checked.length} tiles (${where})`,
  );
  checked.forEach((i, k) => {
    const tile = plan.tiles[i]!;
    const cue = parsed.cues[k]!;
    const file = plan.sheetFiles[tile.sheet];
    const xywh = `${file}#xywh=${tile.x},${tile.y},${plan.tile.width},${plan.tile.height}`;
    check(
      ms(cue.startTime) === ms(tile.start) && ms(cue.endTime) === ms(tile.end) && cue.text === xywh,
      `cue ${i} reads ${cue.startTime} --> ${cue.endTime} ${cue.text}, written for ${tile.start} --> ${tile.end} ${xywh} (${where})`,
    );
    const rows = plan.sheetRows[tile.sheet];
    check(
      rows !== undefined &&
        tile.x + plan.tile.width <= plan.cols * plan.tile.width &&
        tile.y + plan.tile.height <= rows * plan.tile.height,
      `tile ${i} at ${tile.x},${tile.y} is outside sheet ${tile.sheet} (${where})`,
    );
    if (k > 0 && checked[k - 1] === i - 1)
      check(
        ms(cue.startTime) === ms(parsed.cues[k - 1]!.endTime),
        `cue ${i} does not start where cue ${i - 1} ends (${where})`,
      );
  });
  check(
    ms(parsed.cues.at(-1)?.endTime ?? NaN) === ms(Math.max(w.duration, 0.001)),
    `the last cue does not end at the duration (${where})`,
  );
  roundTrips(storyboardJson(plan), 'storyboard.json');
  const manifest: Manifest = {
    version: 1,
    input: facts,
    options,
    route: 'index',
    decode: {
      route: 'seek',
      decodedFrames: plan.tiles.length,
      frames: plan.tiles.length,
      segments: 1,
      keyframesOnly: true,
      estimate: { seekFrames: 1, seekCost: 1 },
    },
    bytesRead: 1000,
    outputs: plan.sheetFiles.map((file) => ({
      kind: 'storyboard',
      file,
      bytes: 1,
      contentType: 'image/jpeg',
      tiles: plan.tiles.length,
    })),
    timings: { total: 1 },
    ffmpeg: { version: 'ffmpeg version 5.1' },
    generatedAt: new Date(0).toISOString(),
  };
  roundTrips(manifest, 'manifest.json');
  tally.add('written');
}

// Mostly short and medium videos (a long one at a fine interval is 170 000 cues: slow to check).
const duration = fc.oneof(
  { arbitrary: fc.double({ min: 0, max: 600, noNaN: true }), weight: 6 },
  { arbitrary: fc.double({ min: 0, max: 0.05, noNaN: true }), weight: 3 },
  {
    arbitrary: fc.constantFrom(
      0,
      1e-9,
      0.0004,
      0.0005,
      0.001,
      0.0015,
      0.004,
      0.009,
      0.5,
      9.9995,
      59.9995,
      3599.9995,
    ),
    weight: 3,
  },
  { arbitrary: fc.double({ min: 0, max: MAX_DURATION, noNaN: true }), weight: 1 },
);
const size = fc.oneof(fc.integer({ min: 1, max: 8192 }), fc.constantFrom(1, 2, 3, 16, 4095));
const options = fc.record(
  {
    storyboardInterval: fc.oneof(
      fc.double({ min: 0.5, max: 600, noNaN: true }),
      fc.constantFrom(0.5, 1, 10, 600),
    ),
    storyboardWidth: fc.integer({ min: 32, max: 640 }),
    storyboardMinTiles: fc.integer({ min: 1, max: 100 }),
    storyboardGrid: fc.integer({ min: 1, max: 10 }),
    format: fc.constantFrom('jpg', 'webp'),
  },
  { requiredKeys: [] },
);
const input = fc
  .record({
    name: fc.oneof(
      fc.string({ unit: 'binary' }),
      fc.string({ unit: 'grapheme' }),
      fc.constantFrom('a\n\nb-->c', '\ud800', 'x\u2028y'),
    ),
    duration,
    width: size,
    height: size,
    displayWidth: size,
    displayHeight: size,
    options: fc.oneof({ arbitrary: options, weight: 5 }, { arbitrary: fc.anything(), weight: 1 }),
  })
  .map((v) => new Uint8Array(Buffer.from(JSON.stringify(v), 'utf8')));

export const target: FuzzTarget = {
  name: 'writers',
  summary:
    'storyboard VTT/JSON and manifest from any facts, options and name: parse back (W3C WebVTT parser, JSON.parse) to what went in',
  coverage: [
    '/src/engine/plan.ts',
    '/src/engine/options.ts',
    '/src/engine/verdicts.ts',
    '/src/engine/still-format.ts',
  ],
  maxInputBytes: 8192,
  defaultSeconds: 30,
  // 24 hours at the finest interval is 172 800 cues: the parser takes about 7 s on them.
  hangSeconds: 60,
  dictionary: [
    '"duration":',
    '"options":{',
    '"storyboardInterval":',
    '"storyboardMinTiles":100',
    '"storyboardGrid":1',
    '0.0005',
    '86400',
    '1e-7',
    '-0',
    '"name":"',
  ],
  generator: input,
  run: runOne,
  stats: () => tally.get(),
};
