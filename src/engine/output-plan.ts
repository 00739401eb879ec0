import type { DecodeBranch } from './compose.js';
import type { PlannedOutput } from './frameplan.js';
import type { GenerateOptions } from './options.js';
import type { SelectionMode } from './selection.js';
import type { InputFacts, OutputFile } from './types.js';

/**
 * How an output takes part in the job's one decode run: the frames it asks for (one request of the
 * frame plan each, so one bit of a mark's time code), the ffmpeg branches those frames feed, and
 * what it makes of them once the run is over.
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

/** Where an output planner works: the video, the options, the staging and temporary folders. */
export interface OutputPlanContext {
  facts: InputFacts;
  options: GenerateOptions;
  /** Outputs staged until the job commits. */
  staging: string;
  /** The job's private temporary folder. */
  work: string;
}

export interface OutputPlan {
  branches: PlannedBranch[];
  /**
   * After the run, with the planned frames of its own branches (in their order): writes what is
   * left to write and lists the output's files for the manifest.
   */
  finish: (planned: PlannedOutput[]) => Promise<OutputFile[]>;
}
