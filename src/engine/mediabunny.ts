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
 * Identical reads in a row past which a demuxer is taken to be stuck. A legitimate run repeats one
 * lookup at most a few times per frame asked for (a 24-hour storyboard at its finest interval asks
 * for 172 800); a stuck loop passes this in a fraction of a second.
 */
const STUCK_READS = 1_000_000;

interface Reader {
  requestSlice(start: number, length: number): unknown;
}

/**
 * mediabunny 1.61's Matroska resync (after bytes that are no element, up to a segment end past the
 * file's last element) asks its reader for the same 8 bytes forever, answered from its cache
 * without ever yielding: the event loop is blocked, so no timeout, visibility renewal or health
 * check runs again. One crafted or truncated upload would stall a worker. Every reader here counts
 * the identical requests it gets in a row and, past STUCK_READS, throws E_CORRUPT_VIDEO, which ends
 * the loop. The reader class is internal to mediabunny: it is reached through the `_reader` an
 * Input makes when it starts reading (`_getDemuxer`), and patched once for every reader.
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
  const last = new WeakMap<Reader, { start: number; length: number; repeats: number }>();
  prototype.requestSlice = function (this: Reader, start: number, length: number) {
    const seen = last.get(this);
    if (seen && seen.start === start && seen.length === length) {
      if (++seen.repeats > STUCK_READS) {
        seen.repeats = 0;
        throw new ThumbnailerError(
          'E_CORRUPT_VIDEO',
          `The video's container is corrupt: its demuxer read the same ${length} bytes at ${start} over and over.`,
        );
      }
    } else {
      last.set(this, { start, length, repeats: 0 });
    }
    return requestSlice.call(this, start, length);
  };
  return true;
}
