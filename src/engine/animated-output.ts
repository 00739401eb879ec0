import { join } from 'node:path';
import { ENCODINGS, animatedBranch } from './compose.js';
import type { OutputPlan, OutputPlanContext } from './output-plan.js';
import { animatedClipTimes, fitSize } from './plan.js';

const ANIMATED_FPS = 10;

/** The short animated preview: six one-second clips at 10 fps, their exact frames. */
export function planAnimatedOutput(ctx: OutputPlanContext): OutputPlan {
  const { facts, options, staging } = ctx;
  const size = fitSize(facts, { width: Math.min(options.animatedWidth, facts.displayWidth) });
  const encoding = ENCODINGS.animated(options.animatedFormat);
  const file = `preview.${encoding.extension}`;
  return {
    branches: [
      {
        id: 'animated',
        times: animatedClipTimes(facts.duration, 6, 1, ANIMATED_FPS),
        mode: 'accurate',
        width: size.width,
        branch: (select) => [
          animatedBranch(select, facts, size, options.animatedFormat, ANIMATED_FPS, join(staging, file)),
        ],
      },
    ],
    finish: async () => [{ kind: 'animated', file, bytes: 0, contentType: encoding.contentType, ...size }],
  };
}
