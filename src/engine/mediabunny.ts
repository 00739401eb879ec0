import { createRequire } from 'node:module';
import type * as Mediabunny from 'mediabunny';
import { ThumbnailerError } from '../errors.js';

let loaded: typeof Mediabunny | undefined;
let guarded = false;

/**
 * mediabunny, from its single-file CommonJS build (27 ms instead of 48 ms for the tree of ES
 * modules on a fast machine; same classes, same types). Loaded on first use, not on import: a local
 * file's ffprobe is started first and loads its own libraries on the other core meanwhile.
 */
export function mediabunny(): typeof Mediabunny {
  if (!loaded) {
    loaded = createRequire(import.meta.url)('mediabunny') as typeof Mediabunny;
    guarded = guardStuckReads(loaded);
  }
  return loaded;
}

/** Whether the guard below is in place (mediabunny's internals are as it expects). */
export function stuckReadGuardInstalled(): boolean {
  mediabunny();
  return guarded;
}

/**
 * Identical reads in a row, without a pause, past which a demuxer is taken to be stuck. A lookup
 * that repeats a read awaits in between (each frame picked is its own lookup); only a loop that
 * never yields asks for the same bytes thousands of times in one go.
 */
const STUCK_READS = 10_000;

interface Reader {
  requestSlice(start: number, length: number): unknown;
}

/**
 * mediabunny 1.61's Matroska resync (after bytes that are no element, up to a segment end past the
 * file's last element) asks its reader for the same 8 bytes forever, answered from its cache
 * without ever yielding: the event loop is blocked, so no timeout, visibility renewal or health
 * check runs again. One crafted or truncated upload would stall a worker. Every reader here counts
 * the identical requests it gets in a row without yielding and, past STUCK_READS, throws
 * E_CORRUPT_VIDEO, which ends the loop. The reader class is internal to mediabunny: it is reached
 * through the `_reader` an Input makes when it starts reading (`_getDemuxer`), and patched once for
 * every reader.
 */
function guardStuckReads(mb: typeof Mediabunny): boolean {
  const input = new mb.Input({
    source: new mb.BufferSource(new Uint8Array(0)),
    formats: mb.ALL_FORMATS,
  }) as unknown as {
    _getDemuxer?: () => Promise<unknown>;
    _reader?: Reader;
  };
  if (typeof input._getDemuxer !== 'function') return false;
  input._getDemuxer().catch(() => undefined);
  const prototype = input._reader && (Object.getPrototypeOf(input._reader) as Reader);
  if (!prototype || typeof prototype.requestSlice !== 'function') return false;
  const requestSlice = prototype.requestSlice;
  const last = new WeakMap<Reader, { start: number; length: number; repeats: number; counting: boolean }>();
  prototype.requestSlice = function (this: Reader, start: number, length: number) {
    let seen = last.get(this);
    if (!seen || seen.start !== start || seen.length !== length) {
      seen = { start, length, repeats: 0, counting: false };
      last.set(this, seen);
    }
    if (!seen.counting) {
      // The count starts again once the running code yields: a repeat after a pause is no loop.
      const counted = seen;
      counted.counting = true;
      queueMicrotask(() => {
        counted.repeats = 0;
        counted.counting = false;
      });
    }
    if (++seen.repeats > STUCK_READS) {
      seen.repeats = 0;
      throw new ThumbnailerError(
        'E_CORRUPT_VIDEO',
        `The video's container is corrupt: its demuxer read the same ${length} bytes at ${start} over and over.`,
      );
    }
    return requestSlice.call(this, start, length);
  };
  return true;
}
