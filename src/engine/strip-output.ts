import { join } from 'node:path';
import { ENCODINGS, sheetBranch } from './compose.js';
import type { OutputPlan, OutputPlanContext } from './output-plan.js';
import { planStrip } from './plan.js';
import { checkStillSize } from './still-format.js';

/** The contact sheet: `rows` x `cols` evenly spaced frames, one sheet branch of the run. */
export function planStripOutput(ctx: OutputPlanContext): OutputPlan {
  const { facts, options, staging } = ctx;
  const plan = planStrip(facts, options);
  checkStillSize(options.format, plan.size, 'strip', options.height === undefined ? 'width' : 'height');
  const encoding = ENCODINGS.sheet(options.quality, options.format);
  const file = `strip.${encoding.extension}`;
  return {
    branches: [
      {
        id: 'strip',
        times: plan.times,
        mode: options.mode,
        width: plan.tile.width,
        branch: (select) => [sheetBranch(select, facts, plan.tile, options, join(staging, file), 'one')],
      },
    ],
    finish: async (planned) => [
      {
        kind: 'strip',
        file,
        bytes: 0,
        contentType: encoding.contentType,
        ...plan.size,
        tiles: plan.times.length,
        times: planned[0]!.times,
      },
    ],
  };
}
