import type { GenerateOptions, GenerateOptionsInput, Limits, OutputKind } from './options.js';

/**
 * Where a video comes from. The engine never downloads a whole video to read it: `file` is read
 * in place, `url` and `ranged` are read with bounded range requests (container index, then only
 * the samples used).
 */
export type VideoSource =
  { kind: 'file'; path: string } | { kind: 'url'; url: string; name?: string } | RangedVideoSource;

export interface RangedVideoSource {
  kind: 'ranged';
  /** What the manifest calls the input (a blob name, say). Never a URL with a signature. */
  name: string;
  size: number;
  etag?: string;
  /** Reads bytes [start, end) (end exclusive). */
  read(start: number, end: number, options?: { signal?: AbortSignal }): Promise<Uint8Array>;
  /**
   * A URL ffmpeg may read directly when the index route cannot handle the file (e.g. a
   * short-lived read-only SAS URL). Without it, such files are downloaded to a bounded temp file.
   */
  fallbackUrl?: () => Promise<string>;
}

/** `frames`: the one decode run that makes every output (see frameplan.ts). */
export type Phase = 'probe' | 'frames' | 'manifest';

export interface Progress {
  phase: Phase;
  /** Overall progress of the job, 0..1. */
  fraction: number;
}

export interface GenerateRequest {
  source: VideoSource;
  outDir: string;
  options?: GenerateOptionsInput | GenerateOptions;
  limits?: Partial<Limits>;
  signal?: AbortSignal;
  onProgress?: (progress: Progress) => void;
  /** Parent folder for the job's temporary folder (removed when the job ends, whatever happens). */
  tempDir?: string;
  /**
   * Decode route, for tests and benchmarks: `auto` (default) lets the cost model choose; `seek` or
   * `sequential` force one (a sequential pass needs a local file; without one, seek is used).
   */
  decodeRoute?: 'auto' | 'seek' | 'sequential';
}

export interface InputFacts {
  name: string;
  etag?: string;
  size: number;
  container: string;
  duration: number;
  codec: string;
  profile?: string;
  pixelFormat?: string;
  width: number;
  height: number;
  /** Size as displayed: rotation applied and pixels made square. */
  displayWidth: number;
  displayHeight: number;
  rotation: number;
  sampleAspectRatio: string;
  frameRate?: number;
  frameCount?: number;
  hdr?: 'pq' | 'hlg';
  interlaced: boolean;
  hasAudio: boolean;
}

/** Every kind of file a manifest lists: the outputs, and the storyboard's track files. */
export type OutputFileKind =
  OutputKind | 'storyboard-vtt' | 'storyboard-json' | 'storyboard-hls' | 'storyboard-dash';

export interface OutputFile {
  kind: OutputFileKind;
  file: string;
  bytes: number;
  contentType: string;
  width?: number;
  height?: number;
  tiles?: number;
  /** Seconds into the video that each tile shows, for strip and storyboard; each frame, for bif. */
  times?: number[];
  /** The storyboard tile width a sheet or track file belongs to (one set per `storyboardWidths`). */
  storyboardWidth?: number;
  /** bif: frames in the file, and the seconds between them (the option, or coarser for a long video). */
  frames?: number;
  interval?: number;
  /** storyboard-hls, storyboard-dash: peak bits per second of the sheets, for a master playlist or MPD. */
  bandwidth?: number;
}

export interface Manifest {
  version: 1;
  input: InputFacts;
  options: GenerateOptions;
  /** How frames were read: `index` (container index + chosen samples, in place), `remux` or `transcode` (through a local Matroska proxy). */
  route: 'index' | 'remux' | 'transcode';
  /** How the frames of every output were decoded, in one run. */
  decode: DecodeFacts;
  /** Bytes of the input the engine read (index route), when known. */
  bytesRead?: number;
  outputs: OutputFile[];
  timings: Record<string, number>;
  ffmpeg: { version: string };
  generatedAt: string;
}

/** The job's one decode run (frameplan.ts): which route, and what it cost. */
export interface DecodeFacts {
  /** `seek`: a selection file of the segments needed; `sequential`: one pass over the file. */
  route: 'seek' | 'sequential';
  /** Source frames decoded (exact for `seek`; counted from the index for `sequential`). */
  decodedFrames: number;
  /** Distinct frames the outputs show (the union of their requests). */
  frames: number;
  /** Runs of packets decoded from one keyframe (seek route). */
  segments: number;
  /** Only keyframes were decoded. */
  keyframesOnly: boolean;
  /** The cost model's view, in decoded-frame equivalents. */
  estimate: {
    seekFrames: number;
    sequentialFrames?: number;
    seekCost: number;
    sequentialCost?: number;
  };
}
