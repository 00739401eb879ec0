/**
 * One frame plan per job, pure (no I/O): every output (strip, storyboard sheets, poster candidates,
 * animated preview) asks for frames; the plan takes their union, so that each distinct source frame
 * is decoded once and feeds every output that wants it; then a cost model picks how to decode them.
 */

/** A frame as the container index knows it. */
export interface FrameRef {
  /** Presentation time, seconds, as the index gives it (absolute). */
  timestamp: number;
  /** Decode order. */
  sequenceNumber: number;
}

/** What one output's time asks for, resolved against the index. */
export interface PickedFrame {
  /** The time asked for, seconds from the start of the video. */
  target: number;
  /** The time of the frame shown, seconds from the start of the video. */
  actual: number;
  /** The frame is a keyframe, decoded alone. */
  keyframeOnly: boolean;
  frame: FrameRef;
  /** The packet decoding starts from: the frame itself when keyframe-only, else its keyframe. */
  start: FrameRef;
}

export interface OutputRequest {
  /** Names the output in the plan (`strip`, `storyboard-full`, ...). */
  id: string;
  picks: PickedFrame[];
}

/** One decoded frame of the plan, and the outputs it feeds (indices into the requests). */
export interface Mark {
  frame: FrameRef;
  start: FrameRef;
  keyframeOnly: boolean;
  actual: number;
  outputs: number[];
}

/** A run of packets decoded from one keyframe: the marks it shows, in presentation order. */
export interface Segment {
  start: FrameRef;
  marks: number[];
}

export interface PlannedOutput {
  id: string;
  /** Indices of the marks this output receives, ascending (the order its frames come out). */
  marks: number[];
  /** Time shown by each of its frames, in that order. */
  times: number[];
}

export interface FramePlan {
  marks: Mark[];
  segments: Segment[];
  outputs: PlannedOutput[];
  /** Some output shows one source frame twice (a video with fewer frames than tiles). */
  repeats: boolean;
}

/**
 * The union of every output's frames, in presentation order. A frame two outputs want is one mark
 * feeding both; a frame one output wants twice becomes two marks (decoded twice: only videos with
 * fewer frames than tiles do that). Marks sharing a keyframe form one segment, decoded in one run.
 */
export function planFrames(requests: OutputRequest[]): FramePlan {
  interface Entry {
    pick: PickedFrame;
    output: number;
    occurrence: number;
  }
  const entries: Entry[] = [];
  let repeats = false;
  requests.forEach((request, output) => {
    const seen = new Map<number, number>();
    for (const pick of request.picks) {
      const occurrence = seen.get(pick.frame.sequenceNumber) ?? 0;
      if (occurrence > 0) repeats = true;
      seen.set(pick.frame.sequenceNumber, occurrence + 1);
      entries.push({ pick, output, occurrence });
    }
  });
  // Presentation order; the k-th occurrence of a frame in any output is the same (k-th) mark.
  entries.sort(
    (a, b) =>
      a.pick.frame.timestamp - b.pick.frame.timestamp ||
      a.pick.frame.sequenceNumber - b.pick.frame.sequenceNumber ||
      a.occurrence - b.occurrence,
  );
  const marks: Mark[] = [];
  const markOf = new Map<string, number>();
  const outputs: PlannedOutput[] = requests.map((r) => ({ id: r.id, marks: [], times: [] }));
  for (const { pick, output, occurrence } of entries) {
    const key = `${pick.frame.sequenceNumber}:${occurrence}`;
    let index = markOf.get(key);
    if (index === undefined) {
      index = marks.length;
      markOf.set(key, index);
      marks.push({
        frame: pick.frame,
        start: pick.start,
        keyframeOnly: pick.keyframeOnly,
        actual: pick.actual,
        outputs: [],
      });
    } else if (pick.keyframeOnly && !marks[index]!.keyframeOnly) {
      // One output took it as a keyframe: it decodes alone, whoever else asked for it.
      marks[index]!.keyframeOnly = true;
      marks[index]!.start = pick.frame;
    }
    const mark = marks[index]!;
    if (!mark.outputs.includes(output)) mark.outputs.push(output);
    outputs[output]!.marks.push(index);
    outputs[output]!.times.push(pick.actual);
  }
  const segments: Segment[] = [];
  marks.forEach((mark, index) => {
    const last = segments.at(-1);
    const previous = last && marks[last.marks.at(-1)!]!;
    if (
      last &&
      previous &&
      last.start.sequenceNumber === mark.start.sequenceNumber &&
      mark.frame.timestamp > previous.frame.timestamp
    ) {
      last.marks.push(index);
    } else {
      segments.push({ start: mark.start, marks: [index] });
    }
  });
  return { marks, segments, outputs, repeats };
}

/** How the plan's frames are decoded. */
export type DecodeRoute = 'seek' | 'sequential';

export interface RouteInput {
  /** Average frames per second of the video (from the index). */
  frameRate: number;
  /** Timestamp of the video's first frame (absolute, as the index gives it). */
  firstTimestamp: number;
  /** Keyframes from the first frame up to the last mark, when known (for a keyframe-only pass). */
  keyframesToLastMark?: number;
  /** Whether ffmpeg can read the whole video itself, in one pass (a local file or proxy). */
  sequentialPossible: boolean;
}

export interface RouteChoice {
  route: DecodeRoute;
  /** Sequential pass: decode keyframes only (every mark is a keyframe). */
  keyframesOnly: boolean;
  /** Frames each route would decode (estimates from the index). */
  seekFrames: number;
  sequentialFrames: number | undefined;
  /** Costs compared, in decoded-frame equivalents. */
  seekCost: number;
  sequentialCost: number | undefined;
}

/**
 * Cost weights, in decoded frames. The seek route copies every packet it decodes through the
 * selection file (about a third of a decode) and pays a demuxer lookup and a decoder restart per
 * segment; a sequential pass reads and parses every packet up to the last mark, decoding only
 * keyframes when that is all the plan needs.
 */
const COPY_COST = 0.3;
const SEGMENT_COST = 2;
const DEMUX_COST = 0.05;
/** Marks a sequential pass selects by time, at most (ffmpeg evaluates one term per mark and frame). */
export const MAX_SEQUENTIAL_MARKS = 1000;

export function chooseRoute(plan: FramePlan, input: RouteInput): RouteChoice {
  const fps = input.frameRate > 0 ? input.frameRate : 25;
  const framesBetween = (from: number, to: number) => Math.max(0, Math.round((to - from) * fps)) + 1;
  let seekFrames = 0;
  for (const segment of plan.segments) {
    const last = plan.marks[segment.marks.at(-1)!]!;
    const keyOnly = segment.marks.length === 1 && last.keyframeOnly;
    seekFrames += keyOnly ? 1 : framesBetween(segment.start.timestamp, last.frame.timestamp);
  }
  const seekCost = seekFrames * (1 + COPY_COST) + SEGMENT_COST * plan.segments.length;
  const lastMark = plan.marks.reduce((t, m) => Math.max(t, m.frame.timestamp), -Infinity);
  const keyframesOnly = plan.marks.every((m) => m.keyframeOnly);
  const allowed =
    input.sequentialPossible &&
    !plan.repeats &&
    plan.marks.length > 0 &&
    plan.marks.length <= MAX_SEQUENTIAL_MARKS &&
    (!keyframesOnly || input.keyframesToLastMark !== undefined);
  if (!allowed) {
    return {
      route: 'seek',
      keyframesOnly,
      seekFrames,
      sequentialFrames: undefined,
      seekCost,
      sequentialCost: undefined,
    };
  }
  const packets = framesBetween(input.firstTimestamp, lastMark);
  const sequentialFrames = keyframesOnly ? input.keyframesToLastMark! : packets;
  const sequentialCost = sequentialFrames + DEMUX_COST * (packets - sequentialFrames);
  return {
    route: sequentialCost < seekCost ? 'sequential' : 'seek',
    keyframesOnly,
    seekFrames,
    sequentialFrames,
    seekCost: round1(seekCost),
    sequentialCost: round1(sequentialCost),
  };
}

const round1 = (n: number) => Math.round(n * 10) / 10;

/**
 * Selection-file time codes: every mark on a whole second plus, as its millisecond part, the bit
 * mask of the outputs it feeds (1..255); every other packet on a millisecond part from 256 to 999,
 * so that no output's select expression can match it.
 */
export const MARK_CODES = 256;

/** Next time code (ms) after `cursorMs` for a mark feeding outputs `mask`, or a plain packet. */
export function nextTimeCode(cursorMs: number, mask: number | undefined): number {
  if (mask !== undefined) return (Math.floor(cursorMs / 1000) + 1) * 1000 + mask;
  let next = cursorMs + 1;
  if (next % 1000 < MARK_CODES) next = Math.floor(next / 1000) * 1000 + MARK_CODES;
  return next;
}

/** Outputs one plan can feed (one bit each in a mark's time code). */
export const MAX_PLAN_OUTPUTS = 8;

/** Bit mask of the outputs (indices, at most 8) a mark feeds. */
export function outputMask(outputs: number[]): number {
  return outputs.reduce((mask, i) => mask | (1 << i), 0);
}

/**
 * ffmpeg `select` expression keeping the marks of a selection file that feed any output in `mask`
 * (see `nextTimeCode`); `mask` 255 keeps every mark.
 */
export function selectMarks(mask: number): string {
  const ms = 'mod(round(t*1000)\\,1000)';
  return `select='lt(${ms}\\,${MARK_CODES})*bitand(${ms}\\,${mask})'`;
}

/**
 * ffmpeg `select` expression keeping the frames shown at `times` (seconds, as ffmpeg times the
 * source), each within `tolerance`. A balanced sum, so that ffmpeg's evaluator recurses only
 * log2(n) deep however many times there are.
 */
export function selectTimes(times: number[], tolerance: number): string {
  const term = (t: number) => `lt(abs(t-${t.toFixed(6)})\\,${tolerance.toFixed(6)})`;
  const sum = (list: number[]): string => {
    if (list.length === 1) return term(list[0]!);
    const half = Math.ceil(list.length / 2);
    return `(${sum(list.slice(0, half))}+${sum(list.slice(half))})`;
  };
  return `select='${times.length === 0 ? '0' : sum(times)}'`;
}
