import { createWriteStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import type { Source } from 'mediabunny';
import { capIndex, mediabunny } from './mediabunny.js';
import { ThumbnailerError } from '../errors.js';
import { indexTooLarge } from './index-caps.js';
import type { RangedVideoSource, VideoSource } from './types.js';

/**
 * Random access to the input's bytes, whatever it is (local file, http(s) URL, a blob through the
 * storage SDK), counting what is read. Everything the engine reads goes through here.
 */
export interface ByteSource {
  name: string;
  size: number;
  etag?: string;
  /** Set when the bytes are already in a local file. */
  localPath?: string;
  read(start: number, end: number, signal?: AbortSignal): Promise<Uint8Array>;
  /**
   * A mediabunny source over the same bytes. The demuxer reads an index (moov, cues, a Matroska
   * cluster) in one piece: a read longer than `maxReadBytes` is refused before it is allocated.
   */
  demuxerSource(maxReadBytes?: number, pattern?: ReadPattern): Source;
  bytesRead(): number;
  /** Releases what reading needed (a file handle). */
  close(): Promise<void>;
}

const CHUNK = 8 * 1024 * 1024;

export async function openByteSource(source: VideoSource, signal?: AbortSignal): Promise<ByteSource> {
  if (source.kind === 'file') return openFile(source.path);
  // The URL's size comes from a one-byte range request: count that byte too.
  if (source.kind === 'url') return countingSource(await rangedFromUrl(source.url, source.name, signal), 1);
  return countingSource(source);
}

async function openFile(path: string): Promise<ByteSource> {
  let size: number;
  try {
    const info = await stat(path);
    if (!info.isFile()) throw new ThumbnailerError('E_INPUT_NOT_FOUND', `${path} is not a file.`);
    size = info.size;
  } catch (error) {
    if (ThumbnailerError.is(error)) throw error;
    throw new ThumbnailerError('E_INPUT_NOT_FOUND', `Input file not found: ${path}`, { cause: error });
  }
  const handle = await open(path, 'r');
  const source = countingSource({
    kind: 'ranged',
    name: path,
    size,
    async read(start, end) {
      const buffer = Buffer.allocUnsafe(Math.max(0, Math.min(end, size) - start));
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, start);
      return buffer.subarray(0, bytesRead);
    },
  });
  return { ...source, localPath: path, close: () => handle.close().catch(() => undefined) };
}

/**
 * How the demuxer's reads reach the bytes.
 * - `exact`: what the demuxer asks for and nothing more. Over the network, bytes cost: prefetching
 *   read 5-9x more than the index and the samples used (15.9% of a 5-minute 1080p file instead of
 *   1.7%) and saved no time. An MP4's sample table gives every sample's exact range anyway.
 * - `readAhead`: a local Matroska file, where calls cost and bytes hardly do. Without cues it is
 *   walked cluster by cluster, one small read per element header: 972 reads and 266 ms to find the
 *   duration of a 60 s MediaRecorder upload, 7 reads and 87 ms with mediabunny's read-ahead.
 */
export type ReadPattern = 'exact' | 'readAhead';

/** mediabunny's read-ahead reads up to 8 MiB past a run of reads, and at least 512 KiB. */
const READ_AHEAD_SLACK = 9 * 1024 * 1024;

function countingSource(source: RangedVideoSource, alreadyRead = 0): ByteSource {
  let bytes = alreadyRead;
  const read = async (start: number, end: number, signal?: AbortSignal) => {
    const data = await source.read(start, Math.min(end, source.size), { signal });
    bytes += data.byteLength;
    return data;
  };
  return {
    name: source.name,
    size: source.size,
    etag: source.etag,
    read,
    demuxerSource: (maxReadBytes = Infinity, pattern: ReadPattern = 'exact') => {
      // A read ahead goes past what the demuxer asked for by at most the slack.
      const largestRead = maxReadBytes + (pattern === 'readAhead' ? READ_AHEAD_SLACK : 0);
      const demuxerSource = new (mediabunny().CustomSource)({
        getSize: () => source.size,
        read: (start, end) => {
          if (end - start > largestRead) throw indexTooLarge('index', end - start, maxReadBytes);
          return read(start, end);
        },
        prefetchProfile: pattern === 'readAhead' ? 'network' : 'none',
        // Read ahead needs room for what it fetched. Exact reads are used once: a 16 MiB cache kept
        // 12 MB of a selection's keyframes alive while its ffmpeg ran (60-minute default outputs).
        maxCacheSize: (pattern === 'readAhead' ? 16 : 4) * 1024 * 1024,
      });
      return capIndex(demuxerSource, maxReadBytes);
    },
    bytesRead: () => bytes,
    close: async () => undefined,
  };
}

/** An http(s) URL read with bounded range requests; redirects are refused (they could lead anywhere). */
async function rangedFromUrl(
  url: string,
  name: string | undefined,
  signal?: AbortSignal,
): Promise<RangedVideoSource> {
  const parsed = new URL(url);
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
    throw new ThumbnailerError('E_URL_REFUSED', `Only http(s) URLs are read, not ${parsed.protocol}`);
  }
  const display = name ?? `${parsed.origin}${parsed.pathname}`;
  const fetchRange = async (start: number, end: number, rangeSignal?: AbortSignal) => {
    const response = await fetch(url, {
      headers: { range: `bytes=${start}-${end - 1}` },
      redirect: 'error',
      signal: rangeSignal ?? signal,
    }).catch((error: unknown) => {
      throw new ThumbnailerError(
        'E_STORAGE_UNAVAILABLE',
        `Could not read ${display}: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    });
    if (response.status === 404) throw new ThumbnailerError('E_INPUT_NOT_FOUND', `Not found: ${display}`);
    if (response.status !== 206 && response.status !== 200) {
      throw new ThumbnailerError(
        response.status >= 500 ? 'E_STORAGE_UNAVAILABLE' : 'E_URL_REFUSED',
        `Reading ${display} failed with HTTP ${response.status}`,
      );
    }
    const wanted = end - start;
    if (response.status === 206) {
      const from = /^bytes (\d+)-/.exec(response.headers.get('content-range') ?? '')?.[1];
      if (from !== undefined && Number(from) !== start) {
        await response.body?.cancel();
        throw new ThumbnailerError(
          'E_URL_REFUSED',
          `${display} answered a range request with other bytes (from ${from}, not ${start})`,
        );
      }
    }
    // A server that ignores Range answers 200 with the whole body: never read more than was asked
    // for (plus one byte, to tell "that was all of it" from "there is more").
    const { data, more } = await readAtMost(response, response.status === 200 ? wanted + 1 : wanted);
    if (response.status === 200 && (start > 0 || more)) {
      throw new ThumbnailerError(
        'E_URL_REFUSED',
        `${display} does not support range requests (it sent the whole file for a range): serve it from a server that honours Range, or from the storage account`,
      );
    }
    return { response, data: data.subarray(0, wanted) };
  };
  const { response, data } = await fetchRange(0, 1);
  const total = /\/(\d+)$/.exec(response.headers.get('content-range') ?? '')?.[1];
  const size = total ? Number(total) : data.byteLength;
  return {
    kind: 'ranged',
    name: display,
    size,
    etag: response.headers.get('etag') ?? undefined,
    read: async (start, end, options) => (await fetchRange(start, end, options?.signal)).data,
  };
}

/**
 * Reads a response body up to `max` bytes, then stops the transfer: a server sending more than
 * asked (or a body without end) costs at most `max` bytes of memory. `more` says the body went on.
 */
async function readAtMost(response: Response, max: number): Promise<{ data: Uint8Array; more: boolean }> {
  const data = new Uint8Array(max);
  let filled = 0;
  let more = false;
  const reader = response.body?.getReader();
  if (!reader) return { data: data.subarray(0, 0), more };
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      const room = max - filled;
      data.set(value.subarray(0, room), filled);
      filled += Math.min(room, value.byteLength);
      if (value.byteLength > room) {
        more = true;
        break;
      }
      if (filled === max) {
        more = !(await reader.read()).done;
        break;
      }
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  return { data: data.subarray(0, filled), more };
}

/** Copies the source to a local file in bounded chunks (for containers that cannot be read in place). */
export async function downloadTo(
  source: ByteSource,
  path: string,
  maxBytes: number,
  signal?: AbortSignal,
): Promise<void> {
  if (source.size > maxBytes) {
    throw new ThumbnailerError(
      'E_LIMIT_EXCEEDED',
      `The input is ${source.size} bytes, over the ${maxBytes}-byte limit.`,
    );
  }
  const out = createWriteStream(path);
  try {
    for (let offset = 0; offset < source.size; offset += CHUNK) {
      if (signal?.aborted) throw new ThumbnailerError('E_CANCELED', 'The job was canceled.');
      const data = await source.read(offset, Math.min(source.size, offset + CHUNK), signal);
      if (!out.write(data)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
    }
  } finally {
    await new Promise<void>((resolve, reject) =>
      out.end((error?: Error | null) => (error ? reject(error) : resolve())),
    );
  }
}
