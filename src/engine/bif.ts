import { ThumbnailerError } from '../errors.js';

/**
 * Roku's BIF (Base Index Frames) layout, as Roku publishes it: all numbers unsigned 32-bit little
 * endian.
 *
 *   0   magic 89 42 49 46 0D 0A 1A 0A
 *   8   version (0)
 *   12  number of images
 *   16  timestamp multiplier, milliseconds per timestamp unit (0 means 1000)
 *   20  reserved, zero, up to byte 64
 *   64  index: (timestamp, byte offset of the image) per image, then (0xFFFFFFFF, end of the
 *       last image)
 *   ... the JPEG images, one after the other
 *
 * Pure: the header and index from the frames' timestamps and sizes; the images are appended by
 * the caller, so that no whole file is ever held in memory.
 */

export const BIF_MAGIC = Uint8Array.of(0x89, 0x42, 0x49, 0x46, 0x0d, 0x0a, 0x1a, 0x0a);
const HEADER_BYTES = 64;
const END_OF_INDEX = 0xffffffff;

export interface BifFrame {
  /** Timestamp in units of the multiplier (whole seconds with the default 1000 ms). */
  timestamp: number;
  /** Bytes of the JPEG image. */
  bytes: number;
}

/** Header and index of a BIF whose images follow in the order given. */
export function bifHeader(frames: BifFrame[], multiplierMs = 1000): Uint8Array {
  const indexBytes = 8 * (frames.length + 1);
  const total = HEADER_BYTES + indexBytes + frames.reduce((sum, f) => sum + f.bytes, 0);
  if (total > 0xffffffff) {
    throw new ThumbnailerError('E_LIMIT_EXCEEDED', `A BIF file holds at most 4 GiB, not ${total} bytes.`);
  }
  const out = new Uint8Array(HEADER_BYTES + indexBytes);
  const view = new DataView(out.buffer);
  out.set(BIF_MAGIC, 0);
  view.setUint32(8, 0, true);
  view.setUint32(12, frames.length, true);
  view.setUint32(16, multiplierMs, true);
  let offset = HEADER_BYTES + indexBytes;
  let previous = -1;
  frames.forEach((frame, i) => {
    if (
      !Number.isInteger(frame.timestamp) ||
      frame.timestamp <= previous ||
      frame.timestamp >= END_OF_INDEX
    ) {
      throw new ThumbnailerError(
        'E_INTERNAL',
        `BIF timestamps must rise as whole numbers, not ${frame.timestamp}.`,
      );
    }
    previous = frame.timestamp;
    view.setUint32(HEADER_BYTES + 8 * i, frame.timestamp, true);
    view.setUint32(HEADER_BYTES + 8 * i + 4, offset, true);
    offset += frame.bytes;
  });
  view.setUint32(HEADER_BYTES + 8 * frames.length, END_OF_INDEX, true);
  view.setUint32(HEADER_BYTES + 8 * frames.length + 4, offset, true);
  return out;
}
