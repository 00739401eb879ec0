import { keyframeScan, oursGenerate, previewPackage } from '../lib/commands.js';
import { ratio } from '../lib/stats.js';
import { runOnce, type Timed } from '../lib/timing.js';
import type { Section } from '../lib/types.js';

/**
 * docs/contract.md section 9, first two rows: the 10x5 strip (600 px tiles, quality 10) from the 5-min
 * video against ffmpeg-generate-video-preview, and from the 60-min video against our 5-min time and
 * ffmpeg's keyframe-scan recipe. Commands alternate within each round, so that a busy moment of
 * the machine hits all of them alike.
 */
export const stripSection: Section = {
  name: 'strip',
  title: '10x5 strip, 600 px tiles, quality 10',
  needsOurs: false,
  async run(ctx) {
    const { short, long } = ctx.media;
    const ours5 = ctx.ours
      ? oursGenerate(ctx, 'ours-strip-5', 'ours: strip, 5-min', short, ['strip'])
      : undefined;
    const ours60 = ctx.ours
      ? oursGenerate(ctx, 'ours-strip-60', 'ours: strip, 60-min', long, ['strip'])
      : undefined;
    const preview = previewPackage(ctx, 'preview-5', 'ffmpeg-generate-video-preview: strip, 5-min', short);
    const scan = keyframeScan(ctx, 'scan-60', 'ffmpeg keyframe scan: strip, 60-min', long);

    // Untimed first runs of ours: node's modules into the page cache, and a clear failure early.
    for (const item of [ours5, ours60]) if (item) await runOnce(ctx, item, 'warm', false);

    for (let round = 1; round <= ctx.rounds; round++) {
      ctx.log(`strip: round ${round}/${ctx.rounds}`);
      const order: (Timed | undefined)[] = [
        ours5,
        ctx.quick && round > 1 ? undefined : preview,
        ours60,
        scan,
      ];
      for (const item of order) if (item) await runOnce(ctx, item, String(round));
    }

    const timings = [ours5, ours60, preview, scan]
      .filter((t): t is Timed => t !== undefined)
      .map((t) => t.row);
    const notes = ctx.quick ? ['`--quick`: ffmpeg-generate-video-preview ran once.'] : [];
    if (!ours5 || !ours60)
      return { timings, targets: [], notes: [...notes, 'ours not timed (--without-ours).'] };
    return {
      timings,
      notes,
      targets: [
        {
          label: 'ffmpeg-generate-video-preview / ours, strip, 5-min',
          value: ratio(preview.row.seconds, ours5.row.seconds),
          unit: 'x',
          comparator: '>=',
          target: 25,
          from: [preview.row.id, ours5.row.id],
        },
        {
          label: 'ours 60-min / ours 5-min, strip',
          value: ratio(ours60.row.seconds, ours5.row.seconds),
          unit: 'x',
          comparator: '<=',
          target: 1.5,
          from: [ours60.row.id, ours5.row.id],
        },
        {
          label: 'keyframe scan / ours, strip, 60-min',
          value: ratio(scan.row.seconds, ours60.row.seconds),
          unit: 'x',
          comparator: '>=',
          target: 8,
          from: [scan.row.id, ours60.row.id],
        },
      ],
    };
  },
};
