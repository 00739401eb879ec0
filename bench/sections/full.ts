import { oursGenerate } from '../lib/commands.js';
import { ratio } from '../lib/stats.js';
import { runOnce } from '../lib/timing.js';
import type { Section } from '../lib/types.js';

/** The full default output set (strip + poster + storyboard) of ours on both videos. */
export const fullSection: Section = {
  name: 'full',
  title: 'default outputs: strip + poster + storyboard',
  needsOurs: true,
  async run(ctx) {
    const { short, long } = ctx.media;
    const full5 = oursGenerate(ctx, 'ours-full-5', 'ours: strip + poster + storyboard, 5-min', short);
    const full60 = oursGenerate(ctx, 'ours-full-60', 'ours: strip + poster + storyboard, 60-min', long);
    for (const item of [full5, full60]) await runOnce(ctx, item, 'warm', false);
    for (let round = 1; round <= ctx.rounds; round++) {
      ctx.log(`full: round ${round}/${ctx.rounds}`);
      for (const item of [full5, full60]) await runOnce(ctx, item, String(round));
    }
    return {
      timings: [full5.row, full60.row],
      notes: [],
      targets: [
        {
          label: 'ours 60-min / ours 5-min, default outputs',
          value: ratio(full60.row.seconds, full5.row.seconds),
          unit: 'x',
          from: [full5.row.id, full60.row.id],
          detail:
            'information: the storyboard has a tile every 10 s, so 12 times more tiles on the 60-min video',
        },
      ],
    };
  },
};
