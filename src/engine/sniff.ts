import { ThumbnailerError } from '../errors.js';

/**
 * Containers recognised by their bytes, never by the file name. `indexed` ones are read through
 * their index (MP4 sample table, Matroska cues); the others go through ffmpeg with that one demuxer
 * forced. Anything else (playlists, concat lists, images, text, unknown bytes) is refused before
 * ffmpeg ever sees it, because a playlist is how a crafted "video" pulls in local files or URLs.
 */
export interface Container {
  /** ffmpeg demuxer name, used with `-f` and `-format_whitelist`. */
  demuxer: 'mov' | 'matroska' | 'mpegts' | 'mpeg' | 'avi' | 'flv' | 'ogg' | 'asf' | 'mxf';
  indexed: boolean;
  label: string;
}

/** How many leading bytes `sniffContainer` wants. */
export const SNIFF_BYTES = 4096;

const ascii = (bytes: Uint8Array, start: number, length: number) =>
  String.fromCharCode(...bytes.subarray(start, start + length));

const startsWith = (bytes: Uint8Array, signature: number[], offset = 0) =>
  signature.every((b, i) => bytes[offset + i] === b);

const MP4_BOXES = new Set(['ftyp', 'moov', 'mdat', 'free', 'wide', 'skip', 'pnot']);

export function sniffContainer(head: Uint8Array, totalSize: number): Container {
  if (totalSize === 0 || head.length === 0) {
    throw new ThumbnailerError('E_INPUT_EMPTY', 'The input is empty (0 bytes).');
  }
  const text = ascii(head, 0, Math.min(head.length, 64))
    // A byte order mark, read here byte by byte (EF BB BF), or already decoded.
    .replace(/^(?:\uFEFF|\u00EF\u00BB\u00BF)/, '')
    .trimStart();
  if (/^#EXTM3U|^#EXT-X-|^ffconcat|^file\s+'|^<\?xml|^<MPD|^<smil|^\[playlist\]/i.test(text)) {
    throw new ThumbnailerError(
      'E_FORMAT_REFUSED',
      'The input is a playlist or file list, not a video; such inputs are refused because they can reference other files.',
    );
  }
  if (head.length >= 12 && MP4_BOXES.has(ascii(head, 4, 4))) {
    return { demuxer: 'mov', indexed: true, label: ascii(head, 4, 4) === 'ftyp' ? brand(head) : 'quicktime' };
  }
  if (startsWith(head, [0x1a, 0x45, 0xdf, 0xa3])) {
    const isWebm = ascii(head, 0, Math.min(head.length, 64)).includes('webm');
    return { demuxer: 'matroska', indexed: true, label: isWebm ? 'webm' : 'matroska' };
  }
  if (
    head[0] === 0x47 &&
    (head.length < 189 || head[188] === 0x47) &&
    (head.length < 377 || head[376] === 0x47)
  ) {
    return { demuxer: 'mpegts', indexed: false, label: 'mpegts' };
  }
  if (head[4] === 0x47 && head[196] === 0x47) return { demuxer: 'mpegts', indexed: false, label: 'm2ts' };
  if (startsWith(head, [0x00, 0x00, 0x01, 0xba]))
    return { demuxer: 'mpeg', indexed: false, label: 'mpeg-ps' };
  if (ascii(head, 0, 4) === 'RIFF' && ascii(head, 8, 4) === 'AVI ') {
    return { demuxer: 'avi', indexed: false, label: 'avi' };
  }
  if (ascii(head, 0, 3) === 'FLV') return { demuxer: 'flv', indexed: false, label: 'flv' };
  if (ascii(head, 0, 4) === 'OggS') return { demuxer: 'ogg', indexed: false, label: 'ogg' };
  if (startsWith(head, [0x30, 0x26, 0xb2, 0x75, 0x8e, 0x66, 0xcf, 0x11])) {
    return { demuxer: 'asf', indexed: false, label: 'asf' };
  }
  if (startsWith(head, [0x06, 0x0e, 0x2b, 0x34, 0x02, 0x05, 0x01, 0x01])) {
    return { demuxer: 'mxf', indexed: false, label: 'mxf' };
  }
  throw new ThumbnailerError(
    'E_NOT_A_VIDEO',
    `The input is not a video in a supported container (${describe(head)}).`,
  );
}

function brand(head: Uint8Array): string {
  const major = ascii(head, 8, 4).trim();
  return major === 'qt' ? 'quicktime' : `mp4 (${major})`;
}

/** A few words on what the bytes look like, for the refusal message. */
function describe(head: Uint8Array): string {
  if (startsWith(head, [0x89, 0x50, 0x4e, 0x47])) return 'it is a PNG image';
  if (startsWith(head, [0xff, 0xd8, 0xff])) return 'it is a JPEG image';
  if (ascii(head, 0, 3) === 'GIF') return 'it is a GIF image';
  if (ascii(head, 0, 2) === 'BM') return 'it looks like a BMP image';
  if (ascii(head, 0, 4) === 'RIFF' && ascii(head, 8, 4) === 'WEBP') return 'it is a WebP image';
  const sample = head.subarray(0, 512);
  const printable = sample.filter((b) => b === 9 || b === 10 || b === 13 || (b >= 32 && b < 127)).length;
  if (printable / Math.max(1, sample.length) > 0.95) return 'it is text';
  return 'unrecognised bytes';
}
