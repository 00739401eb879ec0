/**
 * Readers for the storyboard's track files, written from the formats, not from our writers: WebVTT
 * cues with `#xywh=` fragments, and Roku's BIF layout as Roku publishes it.
 */

export interface Cue {
  start: number;
  end: number;
  file: string;
  x: number;
  y: number;
  w: number;
  h: number;
}

/** Cues of a storyboard VTT (`HH:MM:SS.mmm --> ...` then `file#xywh=x,y,w,h`). */
export function parseStoryboardVtt(text: string): Cue[] {
  const cues: Cue[] = [];
  const seconds = (t: string) => t.split(':').reduce((acc, p) => acc * 60 + Number(p), 0);
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const m = /^([\d:.]+) --> ([\d:.]+)/.exec(lines[i]!);
    const f = m && /^(.+)#xywh=(\d+),(\d+),(\d+),(\d+)$/.exec(lines[i + 1]?.trim() ?? '');
    if (!m || !f) continue;
    cues.push({
      start: seconds(m[1]!),
      end: seconds(m[2]!),
      file: f[1]!,
      x: Number(f[2]),
      y: Number(f[3]),
      w: Number(f[4]),
      h: Number(f[5]),
    });
  }
  return cues;
}

/** The cue a player shows at `t`: start <= t < end (the last one up to its end). */
export function cueAt(cues: Cue[], t: number): Cue {
  return cues.find((c) => t >= c.start && t < c.end) ?? cues.at(-1)!;
}

export interface BifImage {
  /** Seconds (timestamp x multiplier). */
  time: number;
  bytes: Uint8Array;
}

export interface BifContents {
  version: number;
  multiplierMs: number;
  images: BifImage[];
}

const MAGIC = [0x89, 0x42, 0x49, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];

/**
 * Reads a BIF: magic, version, image count, multiplier (0 means 1000 ms) at 8, 12, 16; the index
 * at 64, (timestamp, offset) pairs ended by timestamp 0xFFFFFFFF and the end offset. Throws on
 * anything the layout does not allow.
 */
export function readBif(data: Uint8Array): BifContents {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const fail = (why: string): never => {
    throw new Error(`not a valid BIF: ${why}`);
  };
  if (data.length < 64 + 8) fail(`${data.length} bytes`);
  MAGIC.forEach((b, i) => data[i] !== b && fail(`byte ${i} of the magic is ${data[i]}`));
  const u32 = (at: number) => view.getUint32(at, true);
  const version = u32(8);
  const count = u32(12);
  const multiplierMs = u32(16) || 1000;
  for (let at = 20; at < 64; at++) if (data[at] !== 0) fail(`reserved byte ${at} is ${data[at]}`);
  if (64 + 8 * (count + 1) > data.length) fail(`an index of ${count} images does not fit`);
  const images: BifImage[] = [];
  for (let i = 0; i < count; i++) {
    const timestamp = u32(64 + 8 * i);
    const offset = u32(64 + 8 * i + 4);
    const next = u32(64 + 8 * (i + 1) + 4);
    if (timestamp === 0xffffffff) fail(`entry ${i} ends the index early`);
    if (next < offset || next > data.length) fail(`image ${i} spans ${offset}..${next}`);
    images.push({ time: (timestamp * multiplierMs) / 1000, bytes: data.subarray(offset, next) });
  }
  if (u32(64 + 8 * count) !== 0xffffffff) fail('the index is not closed by 0xFFFFFFFF');
  if (u32(64 + 8 * count + 4) !== data.length) fail('the end offset is not the end of the file');
  if (count > 0 && u32(64 + 4) !== 64 + 8 * (count + 1)) fail('the first image does not follow the index');
  return { version, multiplierMs, images };
}
