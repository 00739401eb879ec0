import { open, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ThumbnailerError } from '../errors.js';
import { bifHeader } from './bif.js';
import { ENCODINGS, encodedFramesBranch } from './compose.js';
import { TRACK_DEFAULTS } from './options.js';
import type { OutputPlan, OutputPlanContext } from './output-plan.js';
import { planBif } from './plan.js';

export const BIF_FILE = 'preview.bif';
/** The frames as the run writes them, in the job's temporary folder, numbered from 0 in time order. */
const BIF_FRAMES = 'bif-%05d.jpg';
const bifFrame = (index: number) => BIF_FRAMES.replace('%05d', String(index).padStart(5, '0'));
/** JPEG quality of the frames, the storyboard sheets' (Roku shows them at their own size). */
const BIF_QUALITY = 5;

/**
 * Roku's trick play file: a frame every `bifInterval` seconds from 0, each taken from its own time
 * (the nearest keyframe in fast mode, that very time in accurate mode), encoded as JPEG by the same
 * decode run as every other output, then assembled after the run: header and index first, the
 * JPEGs appended one by one (no whole file in memory).
 */
export function planBifOutput(ctx: OutputPlanContext): OutputPlan {
  const { facts, options, staging, work } = ctx;
  const plan = planBif(
    facts,
    options.bifInterval ?? TRACK_DEFAULTS.bifInterval,
    options.bifWidth ?? TRACK_DEFAULTS.bifWidth,
  );
  const encoding = ENCODINGS.sheet(BIF_QUALITY, 'jpg');
  return {
    branches: [
      {
        id: 'bif',
        times: plan.times,
        mode: options.mode,
        width: plan.size.width,
        preferShared: true,
        branch: (select) => [encodedFramesBranch(select, facts, plan.size, encoding, join(work, BIF_FRAMES))],
      },
    ],
    finish: async (planned) => {
      const frames = await Promise.all(
        plan.times.map(async (time, i) => {
          const size = (await stat(join(work, bifFrame(i))).catch(() => undefined))?.size;
          if (!size) {
            throw new ThumbnailerError(
              'E_CORRUPT_VIDEO',
              `The BIF frame at ${time} s (${i + 1} of ${plan.times.length}) could not be decoded.`,
            );
          }
          return { timestamp: time, bytes: size };
        }),
      );
      const file = await open(join(staging, BIF_FILE), 'w');
      try {
        await file.write(bifHeader(frames, 1000));
        for (let i = 0; i < frames.length; i++) await file.write(await readFile(join(work, bifFrame(i))));
      } finally {
        await file.close();
      }
      return [
        {
          kind: 'bif',
          file: BIF_FILE,
          bytes: 0,
          contentType: 'application/octet-stream',
          ...plan.size,
          frames: frames.length,
          interval: plan.interval,
          times: planned[0]!.times,
        },
      ];
    },
  };
}
