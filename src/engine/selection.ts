import type { EncodedPacket, EncodedPacketSink, InputVideoTrack } from 'mediabunny';
import { mediabunny } from './mediabunny.js';
import { ThumbnailerError } from '../errors.js';

/**
 * The index route. For each wanted time we look the frame up in the container's index, then copy
 * only the samples needed to decode it (a keyframe, or a keyframe and the frames up to the target)
 * into a small Matroska "selection file" that one ffmpeg process decodes.
 *
 * Selection files are retimed: every wanted frame sits on a whole second and every other frame
 * between them on a millisecond off the grid, so ffmpeg keeps exactly the wanted frames with one
 * short `select` expression (SELECT_MARKED_FRAMES), in the order the times were asked for.
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

interface PacketRef {
  timestamp: number;
  sequenceNumber: number;
}

interface Segment {
  key: PacketRef;
  /** Frames wanted from this segment, in presentation order (each at most once). */
  wanted: PacketRef[];
}

/** Packets of B-frame pyramids come this far out of presentation order at most. */
const REORDER_LOOKAHEAD = 16;
/** Memory the shared keyframe cache may use. */
const KEY_CACHE_BYTES = 48 * 1024 * 1024;

export class FrameIndex {
  private readonly sink: EncodedPacketSink;

  constructor(
    readonly track: InputVideoTrack,
    /** Timestamp of the first frame: the video's time 0. */
    readonly start: number,
  ) {
    this.sink = new mediabunny.EncodedPacketSink(track);
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
   * Decides, for each target time, which frame shows it and which packets decode it. `fast` takes
   * the nearest keyframe when it is within half the spacing of the targets and not already used;
   * otherwise (and in `accurate` mode) the exact frame, decoded from its keyframe.
   */
  async plan(
    times: number[],
    mode: SelectionMode,
  ): Promise<{ segments: Segment[]; frames: SelectedFrame[] }> {
    const spacing = times.length > 1 ? Math.abs(times[1]! - times[0]!) : Infinity;
    const tolerance = Math.max(spacing / 2, 0.001);
    const usedKeys = new Set<number>();
    const segments: Segment[] = [];
    const frames: SelectedFrame[] = [];
    for (const target of times) {
      const absolute = this.start + target;
      const key = await this.keyFor(absolute);
      let chosen: PacketRef | undefined;
      let keyframeOnly = false;
      if (mode === 'previous-keyframe') {
        chosen = key;
        keyframeOnly = true;
      } else if (mode === 'fast') {
        const next = await this.sink.getNextKeyPacket(key, { metadataOnly: true });
        const candidates = [key, next]
          .filter((p): p is EncodedPacket => p !== null && !usedKeys.has(p.sequenceNumber))
          .filter((p) => Math.abs(p.timestamp - absolute) <= tolerance)
          .sort((a, b) => Math.abs(a.timestamp - absolute) - Math.abs(b.timestamp - absolute));
        if (candidates[0]) {
          chosen = candidates[0];
          keyframeOnly = true;
        }
      }
      const frame = chosen ?? (await this.frameAt(absolute));
      const start = keyframeOnly ? frame : key;
      usedKeys.add(frame.sequenceNumber);
      const last = segments.at(-1);
      const lastWanted = last?.wanted.at(-1);
      // A frame wanted twice (a video with fewer frames than tiles) needs its own segment, so that
      // the decoded frames still come out once per tile, in tile order.
      if (
        last &&
        last.key.sequenceNumber === start.sequenceNumber &&
        lastWanted &&
        frame.timestamp > lastWanted.timestamp
      ) {
        last.wanted.push(frame);
      } else {
        segments.push({ key: start, wanted: [frame] });
      }
      frames.push({ target, actual: round6(frame.timestamp - this.start), keyframeOnly });
    }
    return { segments, frames };
  }

  /** Packets of one segment in decode order: from its keyframe to the last packet its wanted frames need. */
  private async segmentPackets(segment: Segment): Promise<EncodedPacket[]> {
    const key = await this.keyWithData(segment.key);
    if (segment.wanted.length === 1 && segment.wanted[0]!.sequenceNumber === key.sequenceNumber) return [key];
    // First pass on metadata only: which packets are needed. Then read the data of those alone.
    const lastWanted = segment.wanted.at(-1)!.timestamp;
    const wantedLeft = new Set(segment.wanted.map((w) => w.sequenceNumber));
    const needed: EncodedPacket[] = [];
    let pastTarget = 0;
    let packet: EncodedPacket | null = key;
    while (packet) {
      if (needed.length > 0 && packet.type === 'key' && wantedLeft.size === 0) break;
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
    const keep = new Set(needed.slice(0, end).map((p) => p.sequenceNumber));
    const packets: EncodedPacket[] = [key];
    let cursor: EncodedPacket | null = key;
    while (packets.length < keep.size && cursor) {
      cursor = await this.sink.getNextPacket(cursor);
      if (cursor && keep.has(cursor.sequenceNumber)) packets.push(cursor);
    }
    return packets;
  }

  /** Keyframes are shared between outputs (strip, storyboard, poster): read each one once. */
  private readonly keyCache = new Map<number, EncodedPacket>();
  private keyCacheBytes = 0;

  private async keyWithData(ref: PacketRef): Promise<EncodedPacket> {
    const cached = this.keyCache.get(ref.sequenceNumber);
    if (cached) return cached;
    const found = await this.sink.getPacket(ref.timestamp);
    const packet =
      found && found.sequenceNumber === ref.sequenceNumber ? found : await this.findBySequence(ref);
    if (this.keyCacheBytes + packet.byteLength <= KEY_CACHE_BYTES) {
      this.keyCache.set(ref.sequenceNumber, packet);
      this.keyCacheBytes += packet.byteLength;
    }
    return packet;
  }

  private async findBySequence(ref: PacketRef): Promise<EncodedPacket> {
    const packet = await this.sink.getKeyPacket(ref.timestamp);
    if (!packet)
      throw new ThumbnailerError('E_CORRUPT_VIDEO', 'A keyframe listed in the index cannot be read.');
    return packet;
  }

  /**
   * Writes the selection file for `times` and returns which frame stands for each time. The file
   * decodes to exactly `times.length` marked frames.
   */
  async write(path: string, times: number[], mode: SelectionMode, signal?: AbortSignal): Promise<Selection> {
    const { segments, frames } = await this.plan(times, mode);
    const codec = this.track.codec;
    const decoderConfig = await this.track.getDecoderConfig();
    if (!codec || !decoderConfig) throw new ThumbnailerError('E_INTERNAL', 'Selection needs a known codec.');
    const output = new mediabunny.Output({
      format: new mediabunny.MkvOutputFormat(),
      target: new mediabunny.FilePathTarget(path),
    });
    const source = new mediabunny.EncodedVideoPacketSource(codec);
    output.addVideoTrack(source);
    await output.start();
    let cursorMs = 0;
    let count = 0;
    let bytes = 0;
    try {
      for (const segment of segments) {
        if (signal?.aborted) throw new ThumbnailerError('E_CANCELED', 'The job was canceled.');
        const packets = await this.segmentPackets(segment);
        const wanted = new Set(segment.wanted.map((w) => w.sequenceNumber));
        // New times in presentation order: wanted frames on the next whole second, others 1 ms on.
        const retimed = new Map<number, number>();
        for (const p of [...packets].sort((a, b) => a.timestamp - b.timestamp)) {
          if (wanted.has(p.sequenceNumber)) cursorMs = (Math.floor(cursorMs / 1000) + 1) * 1000;
          else {
            cursorMs += 1;
            if (cursorMs % 1000 === 0) cursorMs += 1;
          }
          retimed.set(p.sequenceNumber, cursorMs);
        }
        for (const p of packets) {
          const copy = new mediabunny.EncodedPacket(
            p.data,
            p.type,
            retimed.get(p.sequenceNumber)! / 1000,
            0.001,
          );
          await source.add(copy, count === 0 ? { decoderConfig } : undefined);
          count++;
          bytes += p.byteLength;
        }
      }
      await output.finalize();
    } catch (error) {
      await output.cancel().catch(() => undefined);
      throw error;
    }
    return { frames, packets: count, bytes };
  }
}

const round6 = (n: number) => Math.round(n * 1e6) / 1e6;
