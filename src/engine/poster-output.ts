import { rename, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ThumbnailerError } from '../errors.js';
import {
  ENCODINGS,
  encodedFramesBranch,
  rawFrameBytes,
  rawFramesBranch,
  stillFromRawArgs,
} from './compose.js';
import { runFfmpeg } from './exec.js';
import type { OutputPlan, OutputPlanContext } from './output-plan.js';
import { fitSize, posterCandidateTimes, posterWindowTimes } from './plan.js';

/** The poster candidates in the job's temporary folder: uncompressed, or one JPEG each. */
const POSTER_CANDIDATES = 'poster-candidates.raw';
const POSTER_CANDIDATE_FILES = 'poster-%02d.jpg';
/** Candidate `index`'s file, as ffmpeg names it from `POSTER_CANDIDATE_FILES`. */
const posterCandidate = (index: number) =>
  POSTER_CANDIDATE_FILES.replace('%02d', String(index).padStart(2, '0'));

/**
 * The poster: the best of a dozen candidates spread over the video (or of the second either side
 * of `posterTime`), chosen by the run from their grey frames. JPEG candidates are encoded in the
 * run and the winner's file kept; WebP ones (80 ms an encode) are kept raw in one file and only
 * the winner is encoded, by a small second ffmpeg.
 */
export function planPosterOutput(ctx: OutputPlanContext): OutputPlan {
  const { facts, options, staging, work, signal, limits, timed } = ctx;
  const size = fitSize(facts, { width: Math.min(options.posterWidth, facts.displayWidth) });
  const encoding = ENCODINGS.poster(options.format);
  const file = `poster.${encoding.extension}`;
  const encodeEachCandidate = encoding.extension === 'jpg';
  const candidates = join(work, POSTER_CANDIDATES);
  return {
    branches: [
      {
        id: 'poster',
        // Asked for at a time: the best of the second either side of it.
        times:
          options.posterTime === undefined
            ? posterCandidateTimes(facts.duration)
            : posterWindowTimes(facts.duration, options.posterTime),
        mode: options.mode,
        width: size.width,
        branch: (select) => [
          encodeEachCandidate
            ? encodedFramesBranch(select, facts, size, encoding, join(work, POSTER_CANDIDATE_FILES))
            : rawFramesBranch(select, facts, size, encoding, candidates),
        ],
      },
    ],
    best: {
      name: 'poster',
      keepDuringRun: !encodeEachCandidate,
      keep: async (index, flushed) => {
        const target = join(staging, file);
        if (encodeEachCandidate) {
          await rename(join(work, posterCandidate(index)), target).catch(() => undefined);
        } else {
          await flushed(candidates, (index + 1) * rawFrameBytes(size, encoding));
          await timed('poster', () =>
            runFfmpeg(stillFromRawArgs(candidates, size, encoding, index, target), {
              signal,
              timeoutMs: limits.ffmpegTimeoutMs,
              stallTimeoutMs: limits.ffmpegStallTimeoutMs,
            }),
          );
        }
        if (!(await stat(target).catch(() => undefined))?.size) {
          throw new ThumbnailerError('E_CORRUPT_VIDEO', 'The poster frame could not be decoded.');
        }
      },
    },
    finish: async (planned, chosen) => [
      {
        kind: 'poster',
        file,
        bytes: 0,
        contentType: encoding.contentType,
        ...size,
        times: [planned[0]!.times[chosen ?? 0] ?? 0],
      },
    ],
  };
}
