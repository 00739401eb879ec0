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

const vttSeconds = (text: string) => text.split(':').reduce((acc, p) => acc * 60 + Number(p), 0);

/**
 * Cues of a storyboard VTT (`HH:MM:SS.mmm --> ...` then `file#xywh=x,y,w,h`), strictly: a file
 * that does not start with WEBVTT, a cue without a timing or a timing without a sprite target
 * throws, naming the block.
 */
export function parseStoryboardVtt(text: string): Cue[] {
  if (!text.startsWith('WEBVTT')) throw new Error('a storyboard VTT starts with WEBVTT');
  const cues: Cue[] = [];
  for (const block of text
    .replace(/\r\n/g, '\n')
    .split(/\n{2,}/)
    .slice(1)) {
    const lines = block.split('\n').filter((l) => l.trim() !== '');
    if (lines.length === 0) continue;
    const timing = lines.findIndex((l) => l.includes('-->'));
    const m = /^((?:\d+:)?\d{2}:\d{2}\.\d{3})\s+-->\s+((?:\d+:)?\d{2}:\d{2}\.\d{3})/.exec(
      lines[timing] ?? '',
    );
    if (!m) throw new Error(`cue without a valid timing: ${JSON.stringify(block)}`);
    const p = /^(.+)#xywh=(\d+),(\d+),(\d+),(\d+)$/.exec((lines[timing + 1] ?? '').trim());
    if (!p) throw new Error(`cue without a file#xywh=x,y,w,h target: ${JSON.stringify(block)}`);
    const [x, y, w, h] = p.slice(2).map(Number) as [number, number, number, number];
    cues.push({ start: vttSeconds(m[1]!), end: vttSeconds(m[2]!), file: p[1]!, x, y, w, h });
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
