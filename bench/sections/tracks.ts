import { oursGenerate } from '../lib/commands.js';
import { ratio } from '../lib/stats.js';
import { runOnce } from '../lib/timing.js';
import type { Section } from '../lib/types.js';

/**
 * What the thumbnail tracks cost (issue 22): the default outputs plus the storyboard's HLS and DASH
 * track files and a Roku BIF (a frame every 10 s), against the default outputs alone, on the 5-min
 * video. Both come from one decode run: the BIF adds 30 small JPEGs to it, the tracks a few lines
 * of text. The two commands alternate within each round.
 */
export const tracksSection: Section = {
  name: 'tracks',
  title: 'default outputs + HLS and DASH storyboard tracks + BIF',
  needsOurs: true,
  async run(ctx) {
    const { short } = ctx.media;
    const plain = oursGenerate(ctx, 'ours-default-5', 'ours: default outputs, 5-min', short);
    const tracks = oursGenerate(
      ctx,
      'ours-tracks-5',
      'ours: default outputs + hls,dash + bif, 5-min',
      short,
      undefined,
      {
        outputs: ['bif'],
        flags: ['--storyboard-tracks', 'vtt,hls,dash'],
      },
    );
    for (const item of [plain, tracks]) await runOnce(ctx, item, 'warm', false);
    for (let round = 1; round <= ctx.rounds; round++) {
      ctx.log(`tracks: round ${round}/${ctx.rounds}`);
      for (const item of round % 2 ? [plain, tracks] : [tracks, plain])
        await runOnce(ctx, item, String(round));
    }
    return {
      timings: [plain.row, tracks.row],
      notes: [],
      targets: [
        {
          label: 'ours default outputs + hls,dash tracks + bif / ours default outputs, 5-min',
          value: ratio(tracks.row.seconds, plain.row.seconds),
          unit: 'x',
          comparator: '<=',
          target: 1.15,
          from: [plain.row.id, tracks.row.id],
        },
      ],
    };
  },
};
