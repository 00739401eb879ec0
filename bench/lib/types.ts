import type { References } from './checks.js';
import type { MediaSet } from './media.js';

/** What every section gets from `bench/run.ts`. */
export interface BenchContext {
  /** Repository root. */
  root: string;
  media: MediaSet;
  /** Timed rounds of each command (`--rounds`). */
  rounds: number;
  /** Run the slowest baseline (ffmpeg-generate-video-preview) once only (`--quick`). */
  quick: boolean;
  /** Our CLI (`dist/hosts/cli/main.js`), or undefined with `--without-ours`. */
  ours: string | undefined;
  /** Scratch folder of this run, removed at the end unless `--keep`. */
  tmp: string;
  keep: boolean;
  refs: References;
  signal: AbortSignal;
  log: (line: string) => void;
}

/** One command timed over several rounds; every output it made was checked. */
export interface TimingRow {
  id: string;
  label: string;
  /** The command as a person would type it (short file names). */
  command: string;
  /** Seconds of each successful round. */
  seconds: number[];
  /** Failed runs and failed output checks: any makes the row INVALID. */
  problems: string[];
}

/** A figure judged against a docs/contract.md section 9 target (or shown for information). */
export interface TargetRow {
  label: string;
  value: number | undefined;
  unit: 'x' | 'MB';
  /** How `value` must compare with `target`; undefined: information only. */
  comparator?: '>=' | '<=' | '<';
  target?: number;
  /** Timing rows the figure is computed from: an INVALID one makes the figure INVALID. */
  from: string[];
  detail?: string;
  /** Failed runs or output checks behind the figure (when it has no timing row of its own). */
  problems?: string[];
}

export interface SectionResult {
  timings: TimingRow[];
  targets: TargetRow[];
  notes: string[];
}

/**
 * A part of the bench, in `bench/sections/`. Add one by writing a file that exports a `Section`
 * and listing it in `bench/sections/index.ts`; `--only <name>` runs a subset.
 */
export interface Section {
  name: string;
  title: string;
  /** Skipped (with a note) when our CLI is not being timed (`--without-ours`). */
  needsOurs: boolean;
  run(ctx: BenchContext): Promise<SectionResult>;
}
