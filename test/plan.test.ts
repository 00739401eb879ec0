import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseGenerateOptions } from '../src/engine/options.js';
import {
  evenlySpacedTimes,
  fitSize,
  normaliseFilters,
  planStoryboard,
  planStrip,
  storyboardJson,
  storyboardVtt,
  vttTime,
} from '../src/engine/plan.js';
import { facts } from './support/facts.js';

describe('strip plan', () => {
  test('the seed defaults: 10x5 tiles, 600 px wide, 16:9 tiles 338 px high', () => {
    const plan = planStrip(facts(), parseGenerateOptions({}));
    assert.equal(plan.times.length, 50);
    assert.deepEqual(plan.tile, { width: 600, height: 338 });
    assert.deepEqual(plan.size, { width: 6000, height: 1690 });
  });

  test('padding and margin grow the sheet', () => {
    const plan = planStrip(
      facts(),
      parseGenerateOptions({ cols: 3, rows: 2, width: 100, padding: 4, margin: 10 }),
    );
    assert.deepEqual(plan.size, { width: 3 * 100 + 2 * 4 + 20, height: 2 * 56 + 4 + 20 });
  });

  test('a height gives the width from the display aspect (portrait video)', () => {
    const portrait = facts({ displayWidth: 1080, displayHeight: 1920, rotation: 90 });
    assert.deepEqual(fitSize(portrait, { height: 320 }), { width: 180, height: 320 });
  });

  test('times are evenly spaced, each at the middle of its slot, inside the video', () => {
    const times = evenlySpacedTimes(10, 5);
    assert.deepEqual(times, [1, 3, 5, 7, 9]);
  });
});

describe('storyboard plan', () => {
  test('one tile every 10 s, 10x10 a sheet, cues contiguous from 0 to the duration', () => {
    const plan = planStoryboard(facts({ duration: 3600 }), parseGenerateOptions({}));
    assert.equal(plan.tiles.length, 360);
    assert.deepEqual(plan.sheetFiles, [
      'storyboard-0.jpg',
      'storyboard-1.jpg',
      'storyboard-2.jpg',
      'storyboard-3.jpg',
    ]);
    assert.deepEqual(plan.sheetRows, [10, 10, 10, 6]);
    assert.equal(plan.tiles[0]!.start, 0);
    for (let i = 1; i < plan.tiles.length; i++) assert.equal(plan.tiles[i]!.start, plan.tiles[i - 1]!.end);
    assert.equal(plan.tiles.at(-1)!.end, 3600);
    const last = plan.tiles.at(-1)!;
    assert.equal(last.sheet, 3);
    assert.ok(last.y + plan.tile.height <= 6 * plan.tile.height);
  });

  test('a short video still gets 10 tiles, on one sheet named storyboard.jpg', () => {
    const plan = planStoryboard(facts({ duration: 4 }), parseGenerateOptions({}));
    assert.equal(plan.tiles.length, 10);
    assert.deepEqual(plan.sheetFiles, ['storyboard.jpg']);
    assert.equal(plan.interval, 0.4);
    assert.equal(plan.tiles.at(-1)!.end, 4);
  });

  test('past 10 000 tiles or 1 000 sheets the interval grows to fit, and the JSON says the one used', () => {
    const day = facts({ duration: 24 * 3600 });
    const dense = planStoryboard(day, parseGenerateOptions({ storyboardInterval: 0.5 }));
    assert.equal(dense.tiles.length, 10_000);
    assert.equal(dense.sheetFiles.length, 100);
    assert.equal(dense.interval, 8.64);
    assert.equal((storyboardJson(dense) as { interval: number }).interval, 8.64);
    const oneTileASheet = planStoryboard(
      day,
      parseGenerateOptions({ storyboardInterval: 0.5, storyboardGrid: 1 }),
    );
    assert.equal(oneTileASheet.tiles.length, 1_000);
    assert.equal(oneTileASheet.sheetFiles.length, 1_000);
    assert.equal(oneTileASheet.interval, 86.4);
    for (const plan of [dense, oneTileASheet]) {
      assert.equal(plan.tiles[0]!.start, 0);
      for (let i = 1; i < plan.tiles.length; i++) assert.equal(plan.tiles[i]!.start, plan.tiles[i - 1]!.end);
      assert.equal(plan.tiles.at(-1)!.end, 24 * 3600);
    }
    // Within the caps the interval asked for is kept: 2.7 hours at one second is 9 720 tiles.
    const film = planStoryboard(facts({ duration: 9720 }), parseGenerateOptions({ storyboardInterval: 1 }));
    assert.equal(film.tiles.length, 9720);
    assert.equal(film.interval, 1);
  });

  test('the VTT points every cue inside its sheet, with relative paths and fixed-format times', () => {
    const plan = planStoryboard(facts({ duration: 125.5 }), parseGenerateOptions({}));
    const vtt = storyboardVtt(plan);
    assert.match(vtt, /^WEBVTT\n\n00:00:00\.000 --> 00:00:10\.000\nstoryboard\.jpg#xywh=0,0,160,90\n/);
    assert.match(vtt, /00:02:00\.000 --> 00:02:05\.500\nstoryboard\.jpg#xywh=320,90,160,90\n$/);
    const json = storyboardJson(plan) as {
      tiles: { x: number; width: number }[];
      sheets: { width: number }[];
    };
    assert.equal(json.tiles.length, 13);
    for (const tile of json.tiles) assert.ok(tile.x + tile.width <= json.sheets[0]!.width);
  });

  test('vttTime is locale independent and rounds to milliseconds', () => {
    assert.equal(vttTime(3725.0004), '01:02:05.000');
    assert.equal(vttTime(0.0455), '00:00:00.046');
  });
});

describe('normalising filters', () => {
  test('rotation 90 scales in coded orientation, then turns clockwise', () => {
    const filters = normaliseFilters(facts({ rotation: 90, displayWidth: 1080, displayHeight: 1920 }), {
      width: 180,
      height: 320,
    });
    assert.deepEqual(filters, ['scale=320:180:flags=bicubic', 'transpose=clock', 'setsar=1']);
  });

  test('interlaced video keeps one field; HDR is tone-mapped from its own transfer', () => {
    const filters = normaliseFilters(facts({ interlaced: true, hdr: 'hlg' }), { width: 160, height: 90 });
    assert.equal(filters[0], 'field=type=top');
    assert.ok(filters.some((f) => f.startsWith('zscale=tin=arib-std-b67')));
    assert.ok(filters.includes('tonemap=tonemap=hable:desat=0'));
  });
});

describe('options', () => {
  test('a bad value is refused naming the option', () => {
    assert.throws(() => parseGenerateOptions({ rows: 0 }), { code: 'E_OPTION_INVALID', message: /rows/ });
    assert.throws(() => parseGenerateOptions({ mode: 'slow' }), {
      code: 'E_OPTION_INVALID',
      message: /mode/,
    });
    assert.throws(() => parseGenerateOptions({ colour: 'red' }), {
      code: 'E_OPTION_INVALID',
      message: /colour/,
    });
    assert.throws(() => parseGenerateOptions({ width: 100, height: 100 }), { code: 'E_OPTION_INVALID' });
    assert.throws(() => parseGenerateOptions({ color: 'red;rm -rf' }), {
      code: 'E_OPTION_INVALID',
      message: /color/,
    });
  });

  test('defaults are the seed spec and the default output set', () => {
    const o = parseGenerateOptions({});
    assert.deepEqual([o.cols, o.rows, o.width, o.quality, o.mode], [10, 5, 600, 10, 'fast']);
    assert.deepEqual(o.outputs, ['strip', 'poster', 'storyboard']);
  });
});
