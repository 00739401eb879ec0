import { Transform } from 'node:stream';
import { SNIFF_BYTES, sniffContainer, type Container } from '../../engine/sniff.js';

/**
 * The content types this product serves, and nothing else: a client never chooses how a browser
 * reads a file served from this origin (`video/mp4;x=text/html` is not one of them).
 */
const VIDEO_TYPES: Record<Container['demuxer'], string> = {
  mov: 'video/mp4',
  matroska: 'video/x-matroska',
  mpegts: 'video/mp2t',
  mpeg: 'video/mpeg',
  avi: 'video/x-msvideo',
  flv: 'video/x-flv',
  ogg: 'video/ogg',
  asf: 'video/x-ms-asf',
  mxf: 'application/mxf',
};

export const OCTET_STREAM = 'application/octet-stream';

/** Output files by kind (the names the worker writes: strip.jpg, storyboard-0.webp, manifest.json...). */
const OUTPUT_TYPES: Record<string, string> = {
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  webp: 'image/webp',
  png: 'image/png',
  vtt: 'text/vtt; charset=utf-8',
  json: 'application/json; charset=utf-8',
  // The storyboard's HLS image playlist and DASH MPD; Roku's trick play file is plain bytes.
  m3u8: 'application/vnd.apple.mpegurl',
  mpd: 'application/dash+xml',
  bif: OCTET_STREAM,
};

/** The Content-Security-Policy of every response that is not a dashboard page: data, never a document. */
export const DATA_CSP =
  "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'; sandbox";

const KNOWN_VIDEO_TYPES = new Set([...Object.values(VIDEO_TYPES), 'video/quicktime', 'video/webm']);

/** The type of a video by its first bytes (SNIFF_BYTES of them), or application/octet-stream. */
export function videoTypeOf(head: Uint8Array, size: number): string {
  try {
    const container = sniffContainer(head, size);
    if (container.label === 'quicktime') return 'video/quicktime';
    if (container.label === 'webm') return 'video/webm';
    return VIDEO_TYPES[container.demuxer];
  } catch {
    return OCTET_STREAM;
  }
}

/**
 * What a stored video is served as: its stored type only when it is one of ours, exactly (uploads
 * through the API store the type of their bytes; other writers may have set anything).
 */
export function servedVideoType(stored: string | undefined): string {
  const type = stored?.trim().toLowerCase();
  return type && KNOWN_VIDEO_TYPES.has(type) ? type : OCTET_STREAM;
}

/** What an output file is served as, by its kind (its extension among the product's outputs). */
export function servedOutputType(file: string): string {
  const extension = /\.([a-z0-9]+)$/i.exec(file)?.[1]?.toLowerCase() ?? '';
  return OUTPUT_TYPES[extension] ?? OCTET_STREAM;
}

/**
 * A pass-through stream that holds the first SNIFF_BYTES back until it has them (or the end), then
 * resolves `type` with the content type of those bytes and lets everything through.
 */
export function sniffingStream(): Transform & { type: Promise<string> } {
  let held: Buffer[] = [];
  let heldBytes = 0;
  let resolveType!: (type: string) => void;
  const type = new Promise<string>((resolve) => (resolveType = resolve));
  const release = (stream: Transform) => {
    const head = Buffer.concat(held);
    resolveType(videoTypeOf(head.subarray(0, SNIFF_BYTES), head.length));
    held = [];
    if (head.length > 0) stream.push(head);
  };
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      if (heldBytes >= SNIFF_BYTES) return callback(null, chunk);
      held.push(chunk);
      heldBytes += chunk.length;
      if (heldBytes >= SNIFF_BYTES) release(this);
      callback();
    },
    flush(callback) {
      if (heldBytes < SNIFF_BYTES) release(this);
      callback();
    },
    destroy(error, callback) {
      resolveType(OCTET_STREAM);
      callback(error);
    },
  });
  return Object.assign(stream, { type });
}
