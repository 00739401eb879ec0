import { stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ENCODINGS, sheetBranch, type TileSpec } from './compose.js';
import { TRACK_DEFAULTS, storyboardWidthsOf } from './options.js';
import type { OutputPlan, OutputPlanContext, PlannedBranch } from './output-plan.js';
import {
  planStoryboard,
  storyboardBase,
  storyboardJson,
  storyboardVtt,
  type StoryboardPlan,
} from './plan.js';
import { sheetBandwidth, storyboardHls, storyboardMpd } from './tracks.js';
import type { OutputFile } from './types.js';

/** Storyboard sheets are encoded at this JPEG quality (mapped for WebP). */
const SHEET_QUALITY = 5;

/** Sheets of one grid shape made by one branch: every full sheet (`pattern`), or a single one. */
interface SheetGroup {
  sheets: number[];
  rows: number;
  how: 'one' | 'pattern';
}

/**
 * Full sheets come out of one branch (one image per sheet, numbered); a shorter last sheet, or a
 * single sheet, has its own.
 */
function sheetGroups(plan: StoryboardPlan, fullRows: number): SheetGroup[] {
  const count = plan.sheetFiles.length;
  if (count === 1) return [{ sheets: [0], rows: plan.sheetRows[0]!, how: 'one' }];
  const lastFull = plan.sheetRows[count - 1] === fullRows;
  const all = plan.sheetFiles.map((_, i) => i);
  return [
    { sheets: lastFull ? all : all.slice(0, -1), rows: fullRows, how: 'pattern' },
    ...(lastFull ? [] : [{ sheets: [count - 1], rows: plan.sheetRows[count - 1]!, how: 'one' as const }]),
  ];
}

/**
 * The storyboard at every width of `storyboardWidths`: the tile times and grid are the same for
 * all, so each sheet group is one frame request whose frames feed one sheet branch per width (one
 * more scale and tile on the same decoded frames). Per width: the sheets, the JSON, and the track
 * files of `storyboardTracks` (VTT, HLS image playlist, DASH MPD), the first width under today's
 * names and every other one under `storyboard-<W>w`.
 */
export async function planStoryboardOutput(ctx: OutputPlanContext): Promise<OutputPlan> {
  const { facts, options, staging } = ctx;
  const widths = storyboardWidthsOf(options);
  const tracks = options.storyboardTracks ?? TRACK_DEFAULTS.storyboardTracks;
  const plans = widths.map((w, i) => planStoryboard(facts, options, w, storyboardBase(w, i === 0)));
  const first = plans[0]!;
  const encoding = ENCODINGS.sheet(SHEET_QUALITY, options.format);
  const spec = (rows: number): TileSpec => ({
    cols: first.cols,
    rows,
    padding: 0,
    margin: 0,
    color: 'black',
    quality: SHEET_QUALITY,
    format: options.format,
  });
  const groups = sheetGroups(first, options.storyboardGrid);
  const target = (plan: StoryboardPlan, group: SheetGroup) =>
    group.how === 'pattern' ? `${plan.base}-%d.${encoding.extension}` : plan.sheetFiles[group.sheets[0]!]!;
  const branches: PlannedBranch[] = groups.map((group) => ({
    id: `storyboard-${group.sheets[0]}`,
    times: first.tiles.filter((t) => group.sheets.includes(t.sheet)).map((t) => t.time),
    mode: options.mode,
    width: Math.max(...plans.map((p) => p.tile.width)),
    branch: (select) =>
      plans.map((plan) =>
        sheetBranch(
          select,
          facts,
          plan.tile,
          spec(group.rows),
          join(staging, target(plan, group)),
          group.how,
        ),
      ),
  }));

  // The VTT and JSON need nothing from the run.
  for (const plan of plans) {
    const base = plan.base;
    if (tracks.includes('vtt')) await writeFile(join(staging, `${base}.vtt`), storyboardVtt(plan));
    await writeFile(join(staging, `${base}.json`), JSON.stringify(storyboardJson(plan), null, 2) + '\n');
  }

  return {
    branches,
    finish: async (planned) => {
      const times = planned.flatMap((p) => p.times);
      const files: OutputFile[] = [];
      for (const plan of plans) {
        const storyboardWidth = plan.tile.width;
        const base = plan.base;
        const sheets: OutputFile[] = plan.sheetFiles.map((file, sheet) => {
          const tiles = plan.tiles.flatMap((t, i) => (t.sheet === sheet ? [i] : []));
          return {
            kind: 'storyboard',
            file,
            bytes: 0,
            contentType: encoding.contentType,
            width: plan.cols * plan.tile.width,
            height: plan.sheetRows[sheet]! * plan.tile.height,
            tiles: tiles.length,
            times: tiles.map((i) => times[i]!),
            storyboardWidth,
          };
        });
        files.push(...sheets);
        const track = (kind: OutputFile['kind'], extension: string, contentType: string): OutputFile => ({
          kind,
          file: `${base}.${extension}`,
          bytes: 0,
          contentType,
          storyboardWidth,
        });
        if (tracks.includes('vtt')) files.push(track('storyboard-vtt', 'vtt', 'text/vtt'));
        files.push(track('storyboard-json', 'json', 'application/json'));
        if (tracks.includes('hls') || tracks.includes('dash')) {
          const bytes = await Promise.all(
            plan.sheetFiles.map(async (f) => (await stat(join(staging, f))).size),
          );
          const bandwidth = sheetBandwidth(plan, bytes);
          if (tracks.includes('hls')) {
            await writeFile(join(staging, `${base}.m3u8`), storyboardHls(plan));
            files.push({ ...track('storyboard-hls', 'm3u8', 'application/vnd.apple.mpegurl'), bandwidth });
          }
          if (tracks.includes('dash')) {
            await writeFile(
              join(staging, `${base}.mpd`),
              storyboardMpd(plan, { mimeType: encoding.contentType, bandwidth }),
            );
            files.push({ ...track('storyboard-dash', 'mpd', 'application/dash+xml'), bandwidth });
          }
        }
      }
      return files;
    },
  };
}
