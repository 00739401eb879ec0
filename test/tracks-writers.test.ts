/**
 * The HLS image playlist, the DASH thumbnail MPD and the BIF header as text and bytes, for plans no
 * test video reaches cheaply (a day-long video of 87 sheets, a one-frame video, an interval that
 * is not a whole millisecond): each sheet's span must be the VTT's, whatever the plan. Shaka Player
 * itself reads the files of real videos in tracks-shaka.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { bifHeader } from '../src/engine/bif.js';
import { parseGenerateOptions } from '../src/engine/options.js';
import { planStoryboard, storyboardVtt, type StoryboardPlan } from '../src/engine/plan.js';
import { sheetBandwidth, storyboardHls, storyboardMpd } from '../src/engine/tracks.js';
import { facts } from './support/facts.js';
import { parseStoryboardVtt, readBif } from './support/tracks.js';

const plan = (duration: number, options: object = {}): StoryboardPlan =>
  planStoryboard(facts({ duration }), parseGenerateOptions(options));

interface HlsSheet {
  layout: string;
  resolution: string;
  tile: number;
  seconds: number;
  file: string;
}

function parseHls(text: string): HlsSheet[] {
  const lines = text.trim().split('\n');
  assert.equal(lines[0], '#EXTM3U');
  assert.ok(lines.includes('#EXT-X-IMAGES-ONLY') && lines.at(-1) === '#EXT-X-ENDLIST');
  const target = Number(lines.find((l) => l.startsWith('#EXT-X-TARGETDURATION:'))!.split(':')[1]);
  const sheets: HlsSheet[] = [];
  for (let i = 0; i < lines.length; i++) {
    const tiles = /^#EXT-X-TILES:RESOLUTION=(\d+x\d+),LAYOUT=(\d+x\d+),DURATION=([\d.]+)$/.exec(lines[i]!);
    if (!tiles) continue;
    const seconds = Number(/^#EXTINF:([\d.]+),$/.exec(lines[i + 1]!)![1]);
    assert.ok(Math.round(seconds) <= target, `EXTINF ${seconds} within the target duration ${target}`);
    sheets.push({
      resolution: tiles[1]!,
      layout: tiles[2]!,
      tile: Number(tiles[3]),
      seconds,
      file: lines[i + 2]!,
    });
  }
  return sheets;
}

/** Sheets, their starts and tile rectangles, as a player reads HLS, against the VTT. */
function checkHlsAgainstVtt(p: StoryboardPlan): void {
  const sheets = parseHls(storyboardHls(p));
  const cues = parseStoryboardVtt(storyboardVtt(p));
  assert.deepEqual(
    sheets.map((s) => s.file),
    p.sheetFiles,
  );
  let start = 0;
  let cue = 0;
  for (const sheet of sheets) {
    const [cols, rows] = sheet.layout.split('x').map(Number) as [number, number];
    const [w, h] = sheet.resolution.split('x').map(Number) as [number, number];
    // Every cue of this sheet: at its middle, index by the tile duration from the sheet's start.
    while (cue < cues.length && cues[cue]!.file === sheet.file) {
      const c = cues[cue]!;
      const t = (c.start + c.end) / 2;
      const index = Math.floor((t - start) / sheet.tile + 1e-4);
      assert.ok(index < cols * rows, `${sheet.file}: tile ${index} within ${sheet.layout}`);
      assert.deepEqual(
        [(index % cols) * w, Math.floor(index / cols) * h, w, h],
        [c.x, c.y, c.w, c.h],
        `${t} s`,
      );
      cue++;
    }
    start += sheet.seconds;
  }
  assert.equal(cue, cues.length, 'every cue is in a sheet');
  assert.ok(Math.abs(start - p.duration) < 1e-6, `the sheets end at the video's end (${start})`);
}

function checkMpd(p: StoryboardPlan): void {
  const mpd = storyboardMpd(p, { mimeType: 'image/jpeg', bandwidth: 1000 });
  const template =
    /<SegmentTemplate media="([^"]+)" startNumber="0" timescale="(\d+)" duration="(\d+)"\/>/.exec(mpd)!;
  const [timescale, duration] = [Number(template[2]), Number(template[3])];
  assert.ok(duration <= 0xffffffff && Number.isInteger(duration), `duration ${duration} fits 32 bits`);
  const cues = parseStoryboardVtt(storyboardVtt(p));
  const perSheet = p.cols * p.sheetRows[0]!;
  p.sheetFiles.forEach((file, k) => {
    const uri = template[1]!.replace('$Number$', String(k));
    assert.equal(uri, file);
    // The sheet's segment starts where its first cue does (to the millisecond the VTT writes).
    assert.ok(Math.abs((k * duration) / timescale - cues[k * perSheet]!.start) < 0.0015, `sheet ${k} start`);
  });
  assert.match(mpd, new RegExp(`value="${p.cols}x${p.sheetRows[0]}"`));
  assert.equal(
    mpd.match(/<EssentialProperty schemeIdUri="http:\/\/dashif\.org\/thumbnail_tile" /g)!.length,
    2,
    'on the adaptation set and the Representation',
  );
}

describe('HLS and DASH writers', () => {
  test('a day-long video: 8640 tiles in 87 sheets, the last one of 4 rows', () => {
    const p = plan(24 * 3600);
    assert.equal(p.sheetFiles.length, 87);
    assert.equal(p.sheetRows.at(-1), 4);
    checkHlsAgainstVtt(p);
    checkMpd(p);
    assert.match(
      storyboardMpd(p, { mimeType: 'image/jpeg', bandwidth: 1 }),
      /timescale="1000" duration="1000000"/,
    );
  });

  test('a one-frame video, a 7.633 s video (tiles of 0.7633 s), and 600 s tiles', () => {
    for (const p of [
      plan(0.04),
      plan(7.633),
      plan(4000, { storyboardInterval: 600 }),
      plan(41.7, { storyboardGrid: 3 }),
    ]) {
      checkHlsAgainstVtt(p);
      checkMpd(p);
    }
    assert.match(storyboardHls(plan(7.633)), /DURATION=0\.7633\n/);
  });

  test('bandwidth: the densest sheet, in bits per second', () => {
    const p = plan(2500);
    // 100 tiles of 10 s, then 100, then 50 of them: 500 s.
    assert.equal(sheetBandwidth(p, [125_000, 125_000, 125_000]), Math.ceil((125_000 * 8) / 500));
  });

  test('BIF header: layout, index and end offset', () => {
    const header = bifHeader([
      { timestamp: 0, bytes: 10 },
      { timestamp: 10, bytes: 20 },
    ]);
    const file = new Uint8Array(header.length + 30);
    file.set(header);
    const bif = readBif(file);
    assert.deepEqual(
      bif.images.map((i) => [i.time, i.bytes.length]),
      [
        [10 * 0, 10],
        [10, 20],
      ],
    );
    assert.throws(
      () =>
        bifHeader([
          { timestamp: 5, bytes: 1 },
          { timestamp: 5, bytes: 1 },
        ]),
      { code: 'E_INTERNAL' },
    );
  });
});
