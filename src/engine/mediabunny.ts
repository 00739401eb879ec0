import { createRequire } from 'node:module';
import type * as Mediabunny from 'mediabunny';
import type { InputVideoTrack } from 'mediabunny';
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
 * Reads while the event loop does not turn past which a demuxer is taken to be stuck: identical
 * ones (a loop on one place), or any (a loop through a few places). A lookup that misses the cache
 * waits for I/O; lookups served from the cache repeat a read at most a few times per frame asked
 * for (a 24-hour storyboard at its finest interval asks for 172 800): only a loop that never lets
 * the event loop turn reads this much.
 */
const STUCK_READS = 100_000;
const STUCK_READS_ANY = 500_000;

interface Reader {
  requestSlice(start: number, length: number): unknown;
}

/**
 * mediabunny 1.61's Matroska resync (after bytes that are no element, up to a segment end past the
 * file's last element) asks its reader for the same 8 bytes forever, answered from its cache
 * without ever yielding: the event loop is blocked, so no timeout, visibility renewal or health
 * check runs again; a cluster size that points back makes it cycle the same way through a few
 * places. One crafted or truncated upload would stall a worker. Every reader here counts the
 * requests it gets without yielding and, past the limits above, throws E_CORRUPT_VIDEO, which ends
 * the loop. The reader class is internal to mediabunny: it is reached
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
  const last = new WeakMap<Reader, { start: number; length: number; repeats: number; reads: number }>();
  prototype.requestSlice = function (this: Reader, start: number, length: number) {
    let seen = last.get(this);
    if (!seen) {
      const counted = { start, length, repeats: 0, reads: 0 };
      seen = counted;
      last.set(this, counted);
      // The counts start again once the event loop turns: reads after I/O are no loop. (A loop
      // that awaits only cached data never lets it turn either.)
      setImmediate(() => last.delete(this));
    }
    if (seen.start === start && seen.length === length) seen.repeats++;
    else Object.assign(seen, { start, length, repeats: 0 });
    if (seen.repeats > STUCK_READS || ++seen.reads > STUCK_READS_ANY) {
      last.delete(this);
      throw new ThumbnailerError(
        'E_CORRUPT_VIDEO',
        `The video's container is corrupt: its demuxer read ${seen.reads} times without a pause, the last ${seen.repeats + 1} at byte ${start}.`,
      );
    }
    return requestSlice.call(this, start, length);
  };
  return true;
}

interface SampleTable {
  sampleSizes?: unknown[];
  sampleToChunk?: { samplesPerChunk?: number }[];
}

/**
 * mediabunny 1.61 finds a sample's offset by adding up the sizes of the samples before it in its
 * chunk: an MP4 whose `stsc` claims four billion samples a chunk makes one lookup a loop of four
 * billion steps that never yields. No chunk holds more samples than its track has, so such a sample
 * table is corrupt, and refused before any lookup. The table is internal to mediabunny, read
 * through the track's `_backing` (a fragmented file has none); where it is not found nothing is
 * checked.
 */
export function checkSampleTable(track: InputVideoTrack): void {
  interface InternalTrack {
    sampleTable?: SampleTable | null;
    demuxer?: { getSampleTableForTrack?: (t: InternalTrack) => SampleTable | null };
  }
  const internal = (track as unknown as { _backing?: { internalTrack?: InternalTrack } })._backing
    ?.internalTrack;
  // The table is made from the moov on first use (synchronously): made here, it is the one used.
  const table = internal && (internal.sampleTable ?? internal.demuxer?.getSampleTableForTrack?.(internal));
  const samples = table?.sampleSizes?.length ?? 0;
  // One size for every sample: the offset is a product, not a sum.
  if (!table || samples === 1 || !Array.isArray(table.sampleToChunk)) return;
  for (const entry of table.sampleToChunk) {
    if (!((entry.samplesPerChunk ?? 0) <= samples)) {
      throw new ThumbnailerError(
        'E_CORRUPT_VIDEO',
        `The video's index is corrupt: a chunk of ${entry.samplesPerChunk} samples in a track of ${samples}.`,
      );
    }
  }
}
