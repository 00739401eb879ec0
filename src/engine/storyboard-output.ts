import { join } from 'node:path';
import { ENCODINGS, sheetBranch, type TileSpec } from './compose.js';
import { storyboardWidthsOf } from './options.js';
import type { OutputPlan, OutputPlanContext, PlannedBranch } from './output-plan.js';
import { planStoryboard, storyboardBase, type StoryboardPlan } from './plan.js';
import { checkStillSize } from './still-format.js';
import { planStoryboardTracks } from './storyboard-tracks.js';
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
 * more scale and tile on the same decoded frames). Per width: the sheets, then its track files
 * (`storyboard-tracks.ts`), the first width under today's names and every other one under
 * `storyboard-<W>w`.
 */
export async function planStoryboardOutput(ctx: OutputPlanContext): Promise<OutputPlan> {
  const { facts, options, staging } = ctx;
  const widths = storyboardWidthsOf(options);
  const plans = widths.map((w, i) => planStoryboard(facts, options, w, storyboardBase(w, i === 0)));
  for (const plan of plans) {
    const sheet = {
      width: plan.cols * plan.tile.width,
      height: Math.max(...plan.sheetRows) * plan.tile.height,
    };
    const remedy = 'use a smaller storyboardWidth or storyboardGrid';
    const field = options.storyboardWidths ? 'storyboardWidths' : 'storyboardWidth';
    checkStillSize(options.format, sheet, 'storyboard sheet', field, remedy);
  }
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
  const tracks: OutputPlan[] = [];
  for (const plan of plans) tracks.push(await planStoryboardTracks(ctx, plan, encoding.contentType));

  return {
    branches,
    finish: async (planned) => {
      const times = planned.flatMap((p) => p.times);
      const files: OutputFile[] = [];
      for (const [i, plan] of plans.entries()) {
        files.push(...sheetFiles(plan, times, encoding.contentType));
        files.push(...(await tracks[i]!.finish([], undefined)));
      }
      return files;
    },
  };
}

/** The sheets of one width, each with the times its tiles show. */
function sheetFiles(plan: StoryboardPlan, times: number[], contentType: string): OutputFile[] {
  return plan.sheetFiles.map((file, sheet) => {
    const tiles = plan.tiles.flatMap((t, i) => (t.sheet === sheet ? [i] : []));
    return {
      kind: 'storyboard',
      file,
      bytes: 0,
      contentType,
      width: plan.cols * plan.tile.width,
      height: plan.sheetRows[sheet]! * plan.tile.height,
      tiles: tiles.length,
      times: tiles.map((i) => times[i]!),
      storyboardWidth: plan.tile.width,
    };
  });
}
