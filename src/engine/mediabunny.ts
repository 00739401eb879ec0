import { createRequire } from 'node:module';
import type * as Mediabunny from 'mediabunny';
import type { InputVideoTrack, Source } from 'mediabunny';
import { ThumbnailerError } from '../errors.js';
import { indexTooLarge } from './index-caps.js';

let loaded: typeof Mediabunny | undefined;
let guarded = false;
let boxesGuarded = false;

/**
 * mediabunny, from its single-file CommonJS build (27 ms instead of 48 ms for the tree of ES
 * modules on a fast machine; same classes, same types). Loaded on first use, not on import: a local
 * file's ffprobe is started first and loads its own libraries on the other core meanwhile.
 */
export function mediabunny(): typeof Mediabunny {
  if (!loaded) {
    loaded = createRequire(import.meta.url)('mediabunny') as typeof Mediabunny;
    guarded = guardStuckReads(loaded);
    boxesGuarded = guardBoxCounts(loaded);
  }
  return loaded;
}

/** Whether the guard below is in place (mediabunny's internals are as it expects). */
export function stuckReadGuardInstalled(): boolean {
  mediabunny();
  return guarded;
}

/** Whether the guard on the MP4 demuxer's sample counts (below) is in place. */
export function boxCountGuardInstalled(): boolean {
  mediabunny();
  return boxesGuarded;
}

/** The `maxIndexBytes` of each source the engine made, for the sample-count guard below. */
const indexCaps = new WeakMap<object, number>();

/** Gives a source's demuxer the index cap: a sample table past it is refused, not built. */
export function capIndex<S extends Source>(source: S, maxIndexBytes: number): S {
  indexCaps.set(source, maxIndexBytes);
  return source;
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

interface BoxSlice {
  view: DataView;
  bufferPos: number;
  readonly remainingLength: number;
}

interface TimingEntry {
  startIndex: number;
  count: number;
}

interface IsobmffTrack {
  sampleTable?: {
    sampleSizes: unknown[];
    sampleTimingEntries: TimingEntry[];
    sampleCompositionTimeOffsets: TimingEntry[];
  } | null;
  currentFragmentState?: { defaultSampleSize: number | null } | null;
}

interface IsobmffDemuxer {
  currentTrack: IsobmffTrack | null;
  currentFragment: object | null;
  reader?: { source?: object; fileSizeNonStrict?: number | null };
  traverseBox(slice: BoxSlice): boolean;
}

/**
 * What one sample of a fragment costs in mediabunny 1.61's memory (an object of its time, size,
 * offset and flags): 16 million samples of a 2 KB file took 3.4 GB. A fragment's samples count
 * against `maxIndexBytes` at this price, so the cap bounds what the demuxer holds, not only what it
 * reads: 335 000 samples at the default 64 MiB (a fragment is usually one GOP, a few hundred).
 */
const FRAGMENT_SAMPLE_BYTES = 200;

/** A box's name and where its fields start in the slice's view; undefined past the slice. */
function peekBox(slice: BoxSlice): { name: string; fields: number; length: number } | undefined {
  if (slice.remainingLength < 8) return undefined;
  const at = slice.bufferPos;
  const { view } = slice;
  const name = String.fromCharCode(
    view.getUint8(at + 4),
    view.getUint8(at + 5),
    view.getUint8(at + 6),
    view.getUint8(at + 7),
  );
  const large = view.getUint32(at) === 1;
  const header = large ? 16 : 8;
  return { name, fields: at + header, length: slice.remainingLength - header };
}

/** Trims a table's run-length entries to the samples the track has. */
function clipEntries(entries: TimingEntry[], samples: number): TimingEntry[] {
  const kept = entries.filter((entry) => entry.startIndex < samples);
  for (const entry of kept) entry.count = Math.min(entry.count, samples - entry.startIndex);
  return kept;
}

/**
 * mediabunny 1.61's MP4 demuxer makes one object per sample a table counts, and some counts are
 * read from a box, not bounded by its bytes:
 * - a `trun` (fragment run) without per-sample fields: four billion samples of the defaults from
 *   12 bytes, a loop that never yields and fills the heap (found by fuzzing);
 * - a `stz2` of a field size of 0 bits: as many sizes as its count, read from no bytes;
 * - `stts` and `ctts` run lengths, expanded sample by sample when `ctts` is present: a few entries
 *   of four billion samples each.
 * So each count is checked against what the file can hold before the demuxer loops on it: a run's
 * samples of the default size must fit in the file, and a fragment's samples, at what each costs in
 * memory (FRAGMENT_SAMPLE_BYTES), within `maxIndexBytes`; a constant `stsz` size times its count
 * must fit in the file; `stz2` field sizes are the standard's 4, 8 or 16 bits; timing and
 * composition runs past the samples the table sizes are trimmed (those samples do not exist; ffmpeg
 * ignores them too). A moov's samples count at 4 bytes each, what a list of their sizes takes, though
 * mediabunny holds about 80 bytes a sample when it lists their times: a tighter price would refuse
 * a day-long recording with B-frames at the default cap. The
 * demuxer class is internal to mediabunny, reached through the MP4 format's `_createDemuxer`.
 */
function guardBoxCounts(mb: typeof Mediabunny): boolean {
  const format = mb.MP4 as unknown as { _createDemuxer?: (input: unknown) => unknown };
  if (typeof format._createDemuxer !== 'function') return false;
  const prototype = Object.getPrototypeOf(format._createDemuxer({})) as IsobmffDemuxer;
  if (typeof prototype.traverseBox !== 'function') return false;
  const traverseBox = prototype.traverseBox;
  /** The sample count of a table's `stsz`/`stz2`: its sizes list only one for a constant size. */
  const sampleCounts = new WeakMap<object, number>();
  /** The samples of a fragment's runs so far (a `moof` may hold many runs). */
  const fragmentSamples = new WeakMap<object, number>();
  prototype.traverseBox = function (this: IsobmffDemuxer, slice: BoxSlice) {
    const box = peekBox(slice);
    const table = this.currentTrack?.sampleTable;
    const cap = (this.reader?.source && indexCaps.get(this.reader.source)) ?? Infinity;
    const fileSize = this.reader?.fileSizeNonStrict ?? Infinity;
    const corrupt = (what: string) =>
      new ThumbnailerError('E_CORRUPT_VIDEO', `The video's index is corrupt: ${what}.`);
    const { view } = slice;
    if (
      box?.name === 'trun' &&
      this.currentFragment &&
      this.currentTrack?.currentFragmentState &&
      box.length >= 8
    ) {
      const flags = view.getUint32(box.fields) & 0xffffff;
      const count = view.getUint32(box.fields + 4);
      // Without a duration, size, flag or offset per sample, no byte bounds the count.
      const size = this.currentTrack.currentFragmentState.defaultSampleSize ?? 0;
      if ((flags & 0xf00) === 0 && count * size > fileSize) {
        throw corrupt(`a fragment claims ${count} samples of ${size} bytes in a file of ${fileSize}`);
      }
      const samples = (fragmentSamples.get(this.currentFragment) ?? 0) + count;
      fragmentSamples.set(this.currentFragment, samples);
      if (samples * FRAGMENT_SAMPLE_BYTES > cap) {
        throw indexTooLarge(
          `fragment (${samples} samples, held at about ${FRAGMENT_SAMPLE_BYTES} bytes each)`,
          samples * FRAGMENT_SAMPLE_BYTES,
          cap,
        );
      }
    } else if (box?.name === 'stsz' && table && box.length >= 12) {
      const size = view.getUint32(box.fields + 4);
      const count = view.getUint32(box.fields + 8);
      if (count * size > fileSize) {
        throw corrupt(`${count} samples of ${size} bytes in a file of ${fileSize}`);
      }
      sampleCounts.set(table, count);
    } else if (box?.name === 'stz2' && table && box.length >= 12) {
      const bits = view.getUint8(box.fields + 7);
      if (bits !== 4 && bits !== 8 && bits !== 16) throw corrupt(`sample sizes of ${bits} bits`);
      sampleCounts.set(table, view.getUint32(box.fields + 8));
    }
    const found = traverseBox.call(this, slice);
    if (box?.name === 'stbl' && table) {
      const samples = sampleCounts.get(table) ?? table.sampleSizes.length;
      table.sampleTimingEntries = clipEntries(table.sampleTimingEntries, samples);
      table.sampleCompositionTimeOffsets = clipEntries(table.sampleCompositionTimeOffsets, samples);
      // With composition offsets, the demuxer lists every sample's time: as large as a size list.
      if (table.sampleCompositionTimeOffsets.length > 0 && samples * 4 > cap) {
        throw indexTooLarge(`sample table of ${samples} samples`, samples * 4, cap);
      }
    }
    return found;
  };
  return true;
}
