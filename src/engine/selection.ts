import type { EncodedPacket, EncodedPacketSink, InputVideoTrack } from 'mediabunny';
import { mediabunny } from './mediabunny.js';
import { ThumbnailerError } from '../errors.js';
import {
  nextTimeCode,
  outputMask,
  planFrames,
  type FramePlan,
  type FrameRef,
  type PickedFrame,
  type Segment,
} from './frameplan.js';
import { sampleTooLarge } from './index-caps.js';

/**
 * The index route. For each wanted time we look the frame up in the container's index, then copy
 * only the samples needed to decode it (a keyframe, or a keyframe and the frames up to the target)
 * into a small Matroska "selection file" that one ffmpeg process decodes. Packets stream from the
 * source into the file one at a time: however long a GOP, only its packets' metadata is held.
 *
 * Selection files are retimed: every wanted frame (a "mark") sits on a whole second plus the bit
 * mask of the outputs it feeds, every other frame on a millisecond the masks never use, so ffmpeg
 * routes each mark to its outputs with one short `select` expression each (see frameplan.ts).
 */

/**
 * `fast`: nearest keyframe (see plan); `accurate`: the exact frame; `previous-keyframe`: the keyframe at
 * or before the time, whatever the distance (one frame on demand, the cheapest answer).
 */
export type SelectionMode = 'fast' | 'accurate' | 'previous-keyframe';

export interface SelectedFrame {
  /** The time that was asked for, seconds from the start of the video. */
  target: number;
  /** The time of the frame that will be shown. */
  actual: number;
  /** Whether the frame was decoded from a keyframe alone. */
  keyframeOnly: boolean;
}

export interface Selection {
  frames: SelectedFrame[];
  packets: number;
  bytes: number;
}

/** Packets of B-frame pyramids come this far out of presentation order at most. */
const REORDER_LOOKAHEAD = 16;
/** Keyframe successors remembered (metadata only, a few hundred bytes each). */
const NEXT_KEY_ENTRIES = 4096;

/**
 * Writes to a selection file are gathered up to this size. mediabunny's default, 16 MiB, held
 * three or four such chunks at once: 60 MB more for the default outputs of a 60-minute video,
 * while its ffmpeg run was starting.
 */
const WRITE_CHUNK_BYTES = 1024 * 1024;

export class FrameIndex {
  private readonly sink: EncodedPacketSink;

  constructor(
    readonly track: InputVideoTrack,
    /** Timestamp of the first frame: the video's time 0. */
    readonly start: number,
    /** Largest sample read, checked on the index's size before the sample's data is read. */
    private readonly maxSampleBytes = Infinity,
  ) {
    this.sink = corruptOnDemuxerError(new (mediabunny().EncodedPacketSink)(track));
  }

  private checkSize(packet: EncodedPacket): void {
    if (packet.byteLength > this.maxSampleBytes) throw sampleTooLarge(packet.byteLength, this.maxSampleBytes);
  }

  /**
   * Each keyframe's successor, looked up once per video. Without an index of keyframes (a Matroska
   * file with no cues, as MediaRecorder writes) the demuxer finds it by reading every cluster up to
   * it, up to the end of the file when there is none; and on a long GOP many targets share a
   * keyframe. Bounded: cleared when full.
   */
  private readonly nextKeys = new Map<number, Promise<EncodedPacket | null>>();

  private nextKeyOf(key: EncodedPacket): Promise<EncodedPacket | null> {
    let next = this.nextKeys.get(key.sequenceNumber);
    if (!next) {
      if (this.nextKeys.size >= NEXT_KEY_ENTRIES) this.nextKeys.clear();
      next = this.sink.getNextKeyPacket(key, { metadataOnly: true });
      // A failed lookup is not remembered: the next caller tries again.
      next.catch(() => this.nextKeys.delete(key.sequenceNumber));
      this.nextKeys.set(key.sequenceNumber, next);
    }
    return next;
  }

  /**
   * The keyframe after `key` when there is one at or before `until` (absolute), otherwise null.
   * The index answers "the last keyframe by `until`" without a scan: only when that is a later one
   * does the search for the next keyframe run, and then it stops there.
   */
  private async nextKeyUpTo(key: EncodedPacket, until: number): Promise<EncodedPacket | null> {
    if (until <= key.timestamp) return null;
    const last = await this.sink.getKeyPacket(until, { metadataOnly: true });
    if (!last || last.timestamp <= key.timestamp) return null;
    return this.nextKeyOf(key);
  }

  private async firstKey(): Promise<EncodedPacket> {
    const key = await this.sink.getFirstKeyPacket({ metadataOnly: true });
    if (!key) throw new ThumbnailerError('E_CORRUPT_VIDEO', 'The video has no keyframe to decode from.');
    return key;
  }

  /** The keyframe a decoder must start from to show the frame at `time` (absolute). */
  private async keyFor(time: number): Promise<EncodedPacket> {
    return (await this.sink.getKeyPacket(time, { metadataOnly: true })) ?? this.firstKey();
  }

  private async frameAt(time: number): Promise<EncodedPacket> {
    const packet =
      (await this.sink.getPacket(time, { metadataOnly: true })) ??
      (await this.sink.getFirstPacket({ metadataOnly: true }));
    if (!packet) throw new ThumbnailerError('E_CORRUPT_VIDEO', 'The video has no frames.');
    return packet;
  }

  /**
   * Decides, for each target time, which frame shows it and which packet decoding starts from.
   * `fast` takes the nearest keyframe when it is within half the spacing of the targets and not
   * already used; otherwise (and in `accurate` mode) the exact frame, decoded from its keyframe.
   * Of two keyframes equally near, one in `shared` (frames other outputs decode anyway) wins.
   */
  async pick(
    times: number[],
    mode: SelectionMode,
    shared: ReadonlySet<number> = new Set(),
  ): Promise<PickedFrame[]> {
    const spacing = times.length > 1 ? Math.abs(times[1]! - times[0]!) : Infinity;
    const tolerance = Math.max(spacing / 2, 0.001);
    const usedKeys = new Set<number>();
    const picks: PickedFrame[] = [];
    for (const target of times) {
      const absolute = this.start + target;
      const key = await this.keyFor(absolute);
      let chosen: EncodedPacket | undefined;
      let keyframeOnly = false;
      if (mode === 'previous-keyframe') {
        chosen = key;
        keyframeOnly = true;
      } else if (mode === 'fast') {
        // The next keyframe can win only when it is closer than `key` (or `key` is taken), and
        // within the tolerance: it is looked for no further than that.
        const reach = usedKeys.has(key.sequenceNumber)
          ? tolerance
          : Math.min(tolerance, Math.abs(absolute - key.timestamp));
        const next = await this.nextKeyUpTo(key, absolute + reach);
        const candidates = [key, next]
          .filter((p): p is EncodedPacket => p !== null && !usedKeys.has(p.sequenceNumber))
          .filter((p) => Math.abs(p.timestamp - absolute) <= tolerance)
          .sort((a, b) => {
            const nearer = Math.abs(a.timestamp - absolute) - Math.abs(b.timestamp - absolute);
            if (Math.abs(nearer) > 1e-6) return nearer;
            return Number(shared.has(b.sequenceNumber)) - Number(shared.has(a.sequenceNumber));
          });
        if (candidates[0]) {
          chosen = candidates[0];
          keyframeOnly = true;
        }
      }
      const frame = chosen ?? (await this.frameAt(absolute));
      usedKeys.add(frame.sequenceNumber);
      picks.push({
        target,
        actual: round6(frame.timestamp - this.start),
        keyframeOnly,
        frame: ref(frame),
        start: ref(keyframeOnly ? frame : key),
      });
    }
    return picks;
  }

  /** Keyframes from the first one up to `timestamp` (absolute); undefined past `atMost`. */
  async keyframesUpTo(timestamp: number, atMost: number): Promise<number | undefined> {
    let count = 0;
    let key: EncodedPacket | null = await this.firstKey();
    while (key && key.timestamp <= timestamp) {
      if (++count > atMost) return undefined;
      key = await this.nextKeyOf(key);
    }
    return count;
  }

  /**
   * Packets of one segment in decode order, metadata only: from its keyframe to the last packet its
   * marks need. Every packet passed is checked against the sample cap before any data is read.
   */
  private async segmentRefs(start: FrameRef, wanted: FrameRef[]): Promise<EncodedPacket[]> {
    const key = await this.metadataOf(start);
    this.checkSize(key);
    if (wanted.length === 1 && wanted[0]!.sequenceNumber === key.sequenceNumber) return [key];
    const lastWanted = wanted.at(-1)!.timestamp;
    const wantedLeft = new Set(wanted.map((w) => w.sequenceNumber));
    const needed: EncodedPacket[] = [];
    let pastTarget = 0;
    let packet: EncodedPacket | null = key;
    while (packet) {
      if (needed.length > 0 && packet.type === 'key' && wantedLeft.size === 0) break;
      this.checkSize(packet);
      // Leading frames of an open GOP belong to the previous keyframe: they cannot be decoded here.
      if (packet.timestamp >= key.timestamp) {
        needed.push(packet);
        wantedLeft.delete(packet.sequenceNumber);
        pastTarget = packet.timestamp > lastWanted ? pastTarget + 1 : 0;
      }
      if (wantedLeft.size === 0 && pastTarget >= REORDER_LOOKAHEAD) break;
      packet = await this.sink.getNextPacket(packet, { metadataOnly: true });
    }
    if (wantedLeft.size > 0) {
      throw new ThumbnailerError('E_CORRUPT_VIDEO', 'The video ends before a frame its index lists.');
    }
    // Nothing after the last packet shown at or before the last wanted frame is needed.
    let end = needed.length;
    while (end > 1 && needed[end - 1]!.timestamp > lastWanted) end--;
    return needed.slice(0, end);
  }

  private async metadataOf(start: FrameRef): Promise<EncodedPacket> {
    const found = await this.sink.getPacket(start.timestamp, { metadataOnly: true });
    if (found && found.sequenceNumber === start.sequenceNumber) return found;
    const key = await this.sink.getKeyPacket(start.timestamp, { metadataOnly: true });
    if (!key) throw new ThumbnailerError('E_CORRUPT_VIDEO', 'A keyframe listed in the index cannot be read.');
    return key;
  }

  /**
   * Keyframes kept between requests, up to `keyCacheLimit` bytes: on-demand frames read each one
   * once. Off unless asked for (`retainKeyframes`): a job reads each keyframe once anyway, and kept
   * they cost a 60-minute video's job 60 MB of memory for nothing.
   */
  private readonly keyCache = new Map<number, EncodedPacket>();
  private keyCacheBytes = 0;
  private keyCacheLimit = 0;

  /** Keeps keyframes read for later requests, up to `maxBytes` in all (see `keptBytes`). */
  retainKeyframes(maxBytes: number): void {
    this.keyCacheLimit = maxBytes;
  }

  /** Memory the kept keyframes hold. */
  keptBytes(): number {
    return this.keyCacheBytes;
  }

  private async keyWithData(ref: FrameRef): Promise<EncodedPacket> {
    const cached = this.keyCache.get(ref.sequenceNumber);
    if (cached) return cached;
    const found = await this.sink.getPacket(ref.timestamp);
    const packet =
      found && found.sequenceNumber === ref.sequenceNumber ? found : await this.findBySequence(ref);
    if (this.keyCacheBytes + packet.byteLength <= this.keyCacheLimit) {
      // A copy: the packet's data may be a view of a larger read, which it would keep alive.
      const kept = new (mediabunny().EncodedPacket)(
        packet.data.slice(),
        packet.type,
        packet.timestamp,
        packet.duration,
        packet.sequenceNumber,
      );
      this.keyCache.set(ref.sequenceNumber, kept);
      this.keyCacheBytes += kept.byteLength;
    }
    return packet;
  }

  private async findBySequence(ref: FrameRef): Promise<EncodedPacket> {
    const packet = await this.sink.getKeyPacket(ref.timestamp);
    if (!packet)
      throw new ThumbnailerError('E_CORRUPT_VIDEO', 'A keyframe listed in the index cannot be read.');
    return packet;
  }

  /**
   * Writes the selection file of a frame plan: its segments one after the other, each packet read
   * and written on its own (never a GOP in memory). Returns the packets (= frames decoded) written.
   */
  async writePlan(
    path: string,
    plan: FramePlan,
    signal?: AbortSignal,
  ): Promise<{ packets: number; bytes: number }> {
    const codec = this.track.codec;
    const decoderConfig = await asCorrupt(this.track.getDecoderConfig());
    if (!codec || !decoderConfig) throw new ThumbnailerError('E_INTERNAL', 'Selection needs a known codec.');
    const mb = mediabunny();
    const output = new mb.Output({
      format: new mb.MkvOutputFormat(),
      target: new mb.FilePathTarget(path, { chunkSize: WRITE_CHUNK_BYTES }),
    });
    const source = new mb.EncodedVideoPacketSource(codec);
    output.addVideoTrack(source);
    await output.start();
    let cursorMs = 0;
    let count = 0;
    let bytes = 0;
    const add = async (packet: EncodedPacket, timeMs: number) => {
      const copy = new mb.EncodedPacket(packet.data, packet.type, timeMs / 1000, 0.001);
      // The muxer refuses packets whose keyframe flags contradict their order (a corrupt index).
      await asCorrupt(source.add(copy, count === 0 ? { decoderConfig } : undefined));
      count++;
      bytes += packet.byteLength;
    };
    try {
      for (const segment of plan.segments) {
        if (signal?.aborted) throw new ThumbnailerError('E_CANCELED', 'The job was canceled.');
        const masks = segmentMasks(plan, segment);
        const refs = await this.segmentRefs(
          segment.start,
          segment.marks.map((i) => plan.marks[i]!.frame),
        );
        // New times in presentation order: marks on the next whole second plus their mask.
        const retimed = new Map<number, number>();
        for (const p of [...refs].sort((a, b) => a.timestamp - b.timestamp)) {
          cursorMs = nextTimeCode(cursorMs, masks.get(p.sequenceNumber));
          retimed.set(p.sequenceNumber, cursorMs);
        }
        // Then the data, in decode order, one packet at a time. The walk starts from the sink's own
        // packet (the demuxer knows where it sits); the keyframe's data may come from those kept.
        let cursor: EncodedPacket | null = refs[0]!;
        let written = 0;
        while (cursor && written < refs.length) {
          const time = retimed.get(cursor.sequenceNumber);
          if (time !== undefined) {
            await add(written === 0 ? await this.keyWithData(refs[0]!) : cursor, time);
            written++;
          }
          if (written < refs.length) cursor = await this.sink.getNextPacket(cursor);
        }
        if (written < refs.length) {
          throw new ThumbnailerError('E_CORRUPT_VIDEO', 'The video ends before a frame its index lists.');
        }
      }
      await output.finalize();
    } catch (error) {
      await output.cancel().catch(() => undefined);
      throw error;
    }
    return { packets: count, bytes };
  }

  /**
   * Writes the selection file for `times` (one output) and returns which frame stands for each
   * time. The file decodes to exactly `times.length` marks, each with mask 1.
   */
  async write(path: string, times: number[], mode: SelectionMode, signal?: AbortSignal): Promise<Selection> {
    const picks = await this.pick(times, mode);
    const plan = planFrames([{ id: 'frames', picks }]);
    const { packets, bytes } = await this.writePlan(path, plan, signal);
    const frames = plan.outputs[0]!.marks.map((m) => ({
      target: picks.find((p) => p.frame.sequenceNumber === plan.marks[m]!.frame.sequenceNumber)?.target ?? 0,
      actual: plan.marks[m]!.actual,
      keyframeOnly: plan.marks[m]!.keyframeOnly,
    }));
    return { frames, packets, bytes };
  }
}

/**
 * What the demuxer throws on bytes it cannot make sense of (a RangeError from a slice past its
 * element, a failed assertion) is a corrupt video, not an internal error to retry; our own errors
 * (a storage read, a cap) pass as they are.
 */
function asCorrupt<T>(lookup: Promise<T>): Promise<T> {
  return lookup.catch((error: unknown) => {
    if (ThumbnailerError.is(error) || !(error instanceof Error)) throw error;
    throw new ThumbnailerError('E_CORRUPT_VIDEO', `The video's container cannot be read: ${error.message}`, {
      cause: error,
    });
  });
}

/** The sink, each of its lookups and reads (the methods that return a promise) through asCorrupt. */
function corruptOnDemuxerError(sink: EncodedPacketSink): EncodedPacketSink {
  return new Proxy(sink, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        const result: unknown = (value as (...a: unknown[]) => unknown).apply(target, args);
        return result instanceof Promise ? asCorrupt(result) : result;
      };
    },
  });
}

/** Mask of outputs for each marked packet of a segment. */
function segmentMasks(plan: FramePlan, segment: Segment): Map<number, number> {
  const masks = new Map<number, number>();
  for (const i of segment.marks) {
    const mark = plan.marks[i]!;
    masks.set(mark.frame.sequenceNumber, outputMask(mark.outputs));
  }
  return masks;
}

const ref = (p: EncodedPacket): FrameRef => ({ timestamp: p.timestamp, sequenceNumber: p.sequenceNumber });

const round6 = (n: number) => Math.round(n * 1e6) / 1e6;
