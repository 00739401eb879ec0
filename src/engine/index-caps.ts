import { ThumbnailerError } from '../errors.js';

/**
 * Size caps on what the demuxer holds in memory, checked on declared sizes before anything is
 * read: a crafted file that declares a 4 GB `moov` costs us a 16-byte read, not 4 GB.
 */

type Read = (start: number, end: number, signal?: AbortSignal) => Promise<Uint8Array>;

/** Top-level boxes walked at most before giving up on finding the `moov` (the demuxer then decides). */
const MAX_TOP_LEVEL_BOXES = 64;

export function indexTooLarge(what: string, bytes: number, cap: number): ThumbnailerError {
  return new ThumbnailerError(
    'E_INDEX_TOO_LARGE',
    `The video's ${what} is ${bytes} bytes, over the limit of ${cap} bytes (maxIndexBytes).`,
  );
}

export function sampleTooLarge(bytes: number, cap: number): ThumbnailerError {
  return new ThumbnailerError(
    'E_SAMPLE_TOO_LARGE',
    `A frame of the video is ${bytes} bytes, over the limit of ${cap} bytes (maxSampleBytes).`,
  );
}

/**
 * Walks the top-level boxes of an MP4/QuickTime file by their headers alone, up to the `moov`, and
 * refuses a `moov` (or a `moof` met before it) whose declared size is over `maxIndexBytes`.
 */
export async function checkMp4IndexSize(
  read: Read,
  fileSize: number,
  maxIndexBytes: number,
  signal?: AbortSignal,
): Promise<void> {
  let position = 0;
  for (let box = 0; box < MAX_TOP_LEVEL_BOXES && position + 8 <= fileSize; box++) {
    const header = await read(position, Math.min(fileSize, position + 16), signal);
    if (header.byteLength < 8) return;
    const view = new DataView(header.buffer, header.byteOffset, header.byteLength);
    const type = String.fromCharCode(...header.subarray(4, 8));
    let size = view.getUint32(0);
    if (size === 1) {
      if (header.byteLength < 16) return;
      size = Number(view.getBigUint64(8));
    } else if (size === 0) {
      size = fileSize - position;
    }
    if ((type === 'moov' || type === 'moof') && size > maxIndexBytes) {
      throw indexTooLarge(`index (${type} box)`, size, maxIndexBytes);
    }
    if (type === 'moov' || size < 8) return;
    position += size;
  }
}
