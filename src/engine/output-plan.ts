import type { DecodeBranch } from './compose.js';
import type { PlannedOutput } from './frameplan.js';
import type { GenerateOptions, Limits } from './options.js';
import type { SelectionMode } from './selection.js';
import type { InputFacts, OutputFile } from './types.js';

/**
 * How an output takes part in the job's one decode run: the frames it asks for (one request of the
 * frame plan each, so one bit of a mark's time code), the ffmpeg branches those frames feed, and
 * what it makes of them once the run is over. Each output has its planner (`planners.ts`); a new
 * output is a new planner, and the run (`decode-run.ts`) does not change.
 */

/** One frame request of the decode run, and the branches (one per file set) its frames feed. */
export interface PlannedBranch {
  id: string;
  times: number[];
  mode: SelectionMode;
  /** Width of the widest frame its branches make (a tile, the poster), in display pixels. */
  width: number;
  /**
   * Fast mode: of two keyframes equally near a time, take one the requests before this one decode
   * anyway (a BIF frame at 10 s between keyframes at 8 and 12 s costs no decode then).
   */
  preferShared?: boolean;
  /** The ffmpeg branches fed by the frames `select` keeps: several share one request. */
  branch: (select: string) => DecodeBranch[];
}

/** Times a step of the job under `name` in the manifest's timings. */
export type Timed = <T>(name: string, run: () => Promise<T>) => Promise<T>;

/** Where an output planner works: the video, the options, the job's folders, signal and limits. */
export interface OutputPlanContext {
  facts: InputFacts;
  options: GenerateOptions;
  /** Outputs staged until the job commits. */
  staging: string;
  /** The job's private temporary folder. */
  work: string;
  /** The job's signal and limits, for an ffmpeg run of the output's own (the WebP poster's). */
  signal: AbortSignal;
  limits: Limits;
  timed: Timed;
}

/**
 * An output made of the best of its candidate frames (the poster). The run scores the frames of
 * the output's first request on their small grey versions, picks the winner, and has the output
 * keep it: during the run when that is worth it and the route allows, otherwise after it.
 */
export interface BestFrame {
  /** What the output is, in messages. */
  name: string;
  /**
   * Keeping takes work worth overlapping with the rest of the run (an encode by a second ffmpeg),
   * rather than a rename once the run is over.
   */
  keepDuringRun: boolean;
  /**
   * Makes the output from candidate `index` (in time order). `flushed(path, bytes)` resolves once
   * the run has written `bytes` of `path`, or has ended.
   */
  keep: (index: number, flushed: (path: string, bytes: number) => Promise<void>) => Promise<void>;
}

export interface OutputPlan {
  branches: PlannedBranch[];
  best?: BestFrame;
  /**
   * After the run, with the planned frames of its own branches (in their order) and, for an output
   * with `best`, the candidate chosen: writes what is left to write and lists the output's files
   * for the manifest.
   */
  finish: (planned: PlannedOutput[], chosen: number | undefined) => Promise<OutputFile[]>;
}
