import { createRequire } from 'node:module';
import type * as Mediabunny from 'mediabunny';
import type { InputVideoTrack, Source } from 'mediabunny';
import { ThumbnailerError } from '../errors.js';
import { indexTooLarge } from './index-caps.js';

let loaded: typeof Mediabunny | undefined;
let guarded = false;
let boxesGuarded = false;
let lacesGuarded = false;

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
    lacesGuarded = guardLacedFrames(loaded) && guardMatroskaCounts(loaded);
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

/** Whether the guards on the Matroska demuxer's laced frames and counts (below) are in place. */
export function lacedFrameGuardInstalled(): boolean {
  mediabunny();
  return lacesGuarded;
}

/** The `maxIndexBytes` of each source the engine made, for the sample-count guard below. */
const indexCaps = new WeakMap<object, number>();

/** Gives a source's demuxer the index cap: a sample table past it is refused, not built. */
export function capIndex<S extends Source>(source: S, maxIndexBytes: number): S {
  indexCaps.set(source, maxIndexBytes);
  return source;
}

/** The index cap of the source a demuxer's reader reads (none for a source the engine did not make). */
function capOf(reader: { source?: object } | undefined): number {
  return (reader?.source && indexCaps.get(reader.source)) ?? Infinity;
}

function corruptIndex(what: string): ThumbnailerError {
  return new ThumbnailerError('E_CORRUPT_VIDEO', `The video's index is corrupt: ${what}.`);
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

interface ChunkEntry {
  startSampleIndex: number;
  startChunkIndex: number;
  samplesPerChunk: number;
  sampleDescriptionIndex: number;
}

interface SampleTable {
  sampleSizes?: number[];
  sampleToChunk?: ChunkEntry[];
  chunkOffsets?: number[];
}

/** Samples a chunk may hold before the table is rewritten with one sample a chunk (see below). */
const LARGEST_CHUNK = 64;

/**
 * The same table with one sample a chunk, each at its own offset: mediabunny's lookup of a sample
 * adds up the sizes of the whole chunk, so a track stored as one chunk (a non-interleaved file, or
 * a crafted one: 200 000 samples in one chunk behind one keyframe took more than a minute) makes
 * every lookup as long as the track, and walking a GOP quadratic. Made once, in one pass over the
 * samples; the returned offsets are the file's own.
 */
function splitChunks(table: Required<SampleTable>): void {
  const { sampleSizes, sampleToChunk, chunkOffsets } = table;
  const offsets: number[] = [];
  const entries: ChunkEntry[] = [];
  for (const [at, entry] of sampleToChunk.entries()) {
    // Chunk numbers come from the file: past the chunks there are, none is walked.
    const chunkEnd = Math.min(sampleToChunk[at + 1]?.startChunkIndex ?? Infinity, chunkOffsets.length);
    entries.push({ ...entry, startChunkIndex: offsets.length, samplesPerChunk: 1 });
    let sample = entry.startSampleIndex;
    for (let chunk = entry.startChunkIndex; chunk < chunkEnd && sample < sampleSizes.length; chunk++) {
      let offset = chunkOffsets[chunk]!;
      for (let k = 0; k < entry.samplesPerChunk && sample < sampleSizes.length; k++, sample++) {
        offsets.push(offset);
        offset += sampleSizes[sample]!;
      }
    }
  }
  table.sampleToChunk = entries;
  table.chunkOffsets = offsets;
}

/**
 * mediabunny 1.61 finds a sample's offset by adding up the sizes of the samples before it in its
 * chunk: an MP4 whose `stsc` claims four billion samples a chunk makes one lookup a loop of four
 * billion steps that never yields. No chunk holds more samples than its track has, so such a sample
 * table is corrupt, and refused before any lookup; a table of large chunks is split (splitChunks).
 * The table is internal to mediabunny, read through the track's `_backing` (a fragmented file has
 * none); where it is not found nothing is checked.
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
  // Chunk runs that go back (a first chunk before the previous one) leave samples at no offset.
  const back = table.sampleToChunk.findIndex(
    (entry, at, all) => at > 0 && entry.startChunkIndex < all[at - 1]!.startChunkIndex,
  );
  if (back !== -1) {
    throw new ThumbnailerError(
      'E_CORRUPT_VIDEO',
      `The video's index is corrupt: its chunk run ${back + 1} starts before the one ahead of it.`,
    );
  }
  if (
    Array.isArray(table.chunkOffsets) &&
    table.sampleToChunk.some((entry) => entry.samplesPerChunk > LARGEST_CHUNK)
  ) {
    splitChunks(table as Required<SampleTable>);
  }
}

interface BoxSlice {
  view: DataView;
  bufferPos: number;
  filePos: number;
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

/** What a sample's listed presentation time costs in mediabunny's memory (4 million: 330 MB). */
const LISTED_TIME_BYTES = 80;

/** A box's name and where its fields start in the slice's view; undefined past the slice. */
function peekBox(
  slice: BoxSlice,
): { name: string; size: number; fields: number; length: number } | undefined {
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
  if (large && slice.remainingLength < 16) return undefined;
  const size = large ? Number(view.getBigUint64(at + 8)) : view.getUint32(at);
  const header = large ? 16 : 8;
  return { name, size, fields: at + header, length: slice.remainingLength - header };
}

/**
 * Whether a `tfra` (the random-access table of fragments) has more entries of one time than the
 * demuxer can take: mediabunny 1.61 drops each repeated time with a splice of the whole table, a
 * quadratic loop that never yields (270 000 entries of time 0 took 27 s). A table of repeated times
 * points nowhere useful: it is skipped, and fragments are found by walking them.
 */
function tfraRepeats(view: DataView, fields: number, length: number): boolean {
  if (length < 16) return false;
  const version = view.getUint8(fields);
  const word = view.getUint32(fields + 8);
  const count = view.getUint32(fields + 12);
  const numbers = ((word >> 4) & 3) + ((word >> 2) & 3) + (word & 3) + 3;
  const entry = (version === 1 ? 16 : 8) + numbers;
  const times = new Set<number>();
  let repeats = 0;
  for (let i = 0; i < count && 16 + (i + 1) * entry <= length; i++) {
    const at = fields + 16 + i * entry;
    const time = version === 1 ? Number(view.getBigUint64(at)) : view.getUint32(at);
    if (times.has(time) && ++repeats > MAX_TFRA_REPEATS) return true;
    times.add(time);
  }
  return false;
}

/** Repeated times a `tfra` may have (a muxer's slip), past which it is skipped. */
const MAX_TFRA_REPEATS = 64;

/** Trims a table's run-length entries to the samples the track has. */
function clipEntries(entries: TimingEntry[], samples: number): TimingEntry[] {
  const kept = entries.filter((entry) => entry.startIndex < samples);
  for (const entry of kept) entry.count = Math.min(entry.count, samples - entry.startIndex);
  return kept;
}

/** The prototype of a format's demuxer (internal to mediabunny), if it has `method`. */
function demuxerPrototype<T>(format: unknown, method: keyof T): T | undefined {
  const create = (format as { _createDemuxer?: (input: unknown) => unknown })._createDemuxer;
  if (typeof create !== 'function') return undefined;
  const prototype = Object.getPrototypeOf(create.call(format, {})) as T;
  return typeof prototype[method] === 'function' ? prototype : undefined;
}

/**
 * mediabunny 1.61's MP4 demuxer makes one object per sample a table counts, and some counts are
 * read from a box, not bounded by its bytes:
 * - a `trun` (fragment run) without per-sample fields: four billion samples of the defaults from
 *   12 bytes, a loop that never yields and fills the heap (found by fuzzing);
 * - a `stz2` of a field size of 0 bits: as many sizes as its count, read from no bytes;
 * - `stts` and `ctts` run lengths, expanded sample by sample when `ctts` is present: a few entries
 *   of four billion samples each.
 * So each count is checked against what the file can hold before the demuxer loops on it:
 * - a run without per-sample fields: its samples of the default size fit in the file, and a run of
 *   more than one sample of no bytes is corrupt;
 * - all fragments together (each counted on its first read) hold no more samples than the file
 *   has bytes: 200 fragments of 56 bytes, each claiming 335 000 samples, took 20 s and 1.4 GB;
 * - a fragment's samples, at what each costs in memory (FRAGMENT_SAMPLE_BYTES), fit
 *   `maxIndexBytes`;
 * - a constant `stsz` size times its count fits in the file; `stz2` fields are 4, 8 or 16 bits;
 * - timing and composition runs past the samples the table sizes are trimmed (those samples do not
 *   exist; ffmpeg ignores them too); the times mediabunny then lists count at 4 bytes each when
 *   the file lists sizes (what the list took; a day of B-frames fits the default cap), at what they
 *   cost (LISTED_TIME_BYTES) when one size serves all;
 * - a `tfra` of many repeated times is skipped (tfraRepeats).
 * The demuxer class is internal to mediabunny, reached through the MP4 format's `_createDemuxer`.
 */
function guardBoxCounts(mb: typeof Mediabunny): boolean {
  const prototype = demuxerPrototype<IsobmffDemuxer>(mb.MP4, 'traverseBox');
  if (!prototype) return false;
  const traverseBox = prototype.traverseBox;
  /** The sample count of a table's `stsz`/`stz2`: its sizes list only one for a constant size. */
  const sampleCounts = new WeakMap<object, number>();
  /** The samples of a fragment's runs so far (a `moof` may hold many runs). */
  const fragmentSamples = new WeakMap<object, number>();
  /** A demuxer's samples over all its fragments, each counted on its first read. */
  const fileTotals = new WeakMap<object, { samples: number; moofs: Map<number, object> }>();
  prototype.traverseBox = function (this: IsobmffDemuxer, slice: BoxSlice) {
    const box = peekBox(slice);
    const table = this.currentTrack?.sampleTable;
    const cap = capOf(this.reader);
    const fileSize = this.reader?.fileSizeNonStrict ?? Infinity;
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
        throw corruptIndex(`a fragment claims ${count} samples of ${size} bytes in a file of ${fileSize}`);
      }
      if ((flags & 0xf00) === 0 && size === 0 && count > 1) {
        throw corruptIndex(`a fragment claims ${count} samples of no bytes`);
      }
      // Every sample takes a byte at least: all the fragments together hold no more than the file.
      const fragment = this.currentFragment as { moofOffset?: number };
      let total = fileTotals.get(this);
      if (!total) fileTotals.set(this, (total = { samples: 0, moofs: new Map() }));
      const first = total.moofs.get(fragment.moofOffset ?? -1);
      if (!first) total.moofs.set(fragment.moofOffset ?? -1, fragment);
      if ((first ?? fragment) === fragment && (total.samples += count) > fileSize) {
        throw corruptIndex(
          `its fragments claim ${total.samples} samples, more than the file's ${fileSize} bytes`,
        );
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
        throw corruptIndex(`${count} samples of ${size} bytes in a file of ${fileSize}`);
      }
      sampleCounts.set(table, count);
    } else if (box?.name === 'stz2' && table && box.length >= 12) {
      const bits = view.getUint8(box.fields + 7);
      if (bits !== 4 && bits !== 8 && bits !== 16) throw corruptIndex(`sample sizes of ${bits} bits`);
      sampleCounts.set(table, view.getUint32(box.fields + 8));
    }
    if (
      box?.name === 'tfra' &&
      box.size > box.fields - slice.bufferPos &&
      tfraRepeats(view, box.fields, Math.min(box.length, box.size - (box.fields - slice.bufferPos)))
    ) {
      slice.filePos += box.size;
      return true;
    }
    const found = traverseBox.call(this, slice);
    if (box?.name === 'stbl' && table) {
      const samples = sampleCounts.get(table) ?? table.sampleSizes.length;
      table.sampleTimingEntries = clipEntries(table.sampleTimingEntries, samples);
      table.sampleCompositionTimeOffsets = clipEntries(table.sampleCompositionTimeOffsets, samples);
      // With composition offsets, the demuxer lists every sample's time, about 80 bytes each. A
      // list of sizes took the file 4 bytes a sample, priced so (a day of B-frames fits the default
      // cap); one constant size took it none (16 million samples in 16 MB of zeros took 1.5 GB).
      const price = table.sampleSizes.length === 1 ? LISTED_TIME_BYTES : 4;
      const listed = table.sampleTimingEntries.reduce((sum, entry) => sum + entry.count, 0);
      if (table.sampleCompositionTimeOffsets.length > 0 && listed * price > cap) {
        throw indexTooLarge(`sample table of ${listed} timed samples`, listed * price, cap);
      }
    }
    return found;
  };
  return true;
}

interface LacedBlock {
  lacing: number;
  data?: Uint8Array;
}

interface MatroskaDemuxer {
  reader?: { source?: object };
  expandLacedBlocks(blocks: LacedBlock[], track: unknown): void;
}

/**
 * mediabunny 1.61 expands a cluster's laced blocks (several frames in one block) in place, one
 * splice of the cluster's block list per frame: quadratic, and never yielding. A 60 KB WebM of
 * 8 000 blocks of 256 empty frames each took 63 s and 2 GB; header stripping copies its prefix
 * into every frame's block (1 000 blocks behind a 1 MiB prefix: 2.2 GB). Here the blocks are
 * expanded one at a time (linear), and a cluster's frames count against `maxIndexBytes` at what
 * each holds, FRAGMENT_SAMPLE_BYTES plus its data: past it, E_INDEX_TOO_LARGE, on which the open
 * hands the file to ffmpeg, as it does a cluster over the cap. The demuxer class is internal,
 * reached through the Matroska format's `_createDemuxer`.
 */
function guardLacedFrames(mb: typeof Mediabunny): boolean {
  const prototype = demuxerPrototype<MatroskaDemuxer>(mb.MATROSKA, 'expandLacedBlocks');
  if (!prototype) return false;
  const expand = prototype.expandLacedBlocks;
  prototype.expandLacedBlocks = function (this: MatroskaDemuxer, blocks: LacedBlock[], track: unknown) {
    const cap = capOf(this.reader);
    const expanded: LacedBlock[] = [];
    let bytes = 0;
    for (const block of blocks) {
      if (block.lacing === 0) {
        expanded.push(block);
        continue;
      }
      const frames = [block];
      expand.call(this, frames, track);
      for (const frame of frames) {
        expanded.push(frame);
        bytes += FRAGMENT_SAMPLE_BYTES + (frame.data?.byteLength ?? 0);
      }
      if (bytes > cap) {
        throw indexTooLarge(`cluster's laced frames (${expanded.length}, with their data)`, bytes, cap);
      }
    }
    blocks.length = 0;
    for (const block of expanded) blocks.push(block);
  };
  return true;
}

interface CuePoint {
  time: number;
  trackId: number;
}

interface MatroskaSegment {
  cuePoints: CuePoint[];
  seekEntries: unknown[];
  tracks: unknown[];
}

interface MatroskaWalker {
  reader?: { source?: object };
  currentSegment: MatroskaSegment | null;
  currentCluster: object | null;
  traverseElement(slice: unknown, stopIds: unknown): boolean;
}

/** Tracks a segment may have (a file of subtitles in every language has a few dozen). */
const MAX_TRACKS = 1024;
/** Seek entries kept (they point at a segment's few top-level elements). */
const MAX_SEEK_ENTRIES = 256;

/**
 * mediabunny 1.61's Matroska walk keeps what the file counts, and some of its loops over those are
 * quadratic or never yield (found by attacking the guards, each from a file of a few hundred KB):
 * - cue points of one time repeated are dropped by one splice each after a sort (300 000: 41 s);
 *   here a repeat (same track, same time) is dropped as it is read, which keeps the first as the
 *   sort did;
 * - every SeekHead entry starts a scan of all the entries (55 000 entries: 38 s): past 256, the
 *   rest are ignored;
 * - every block looks its track up in the list of tracks (40 000 tracks, 80 000 blocks: 53 s):
 *   past 1 024 tracks, the file is corrupt;
 * - cue points and a cluster's elements are held at about 200 bytes each (1.4 million blocks of
 *   6 bytes: 979 MB): they count against `maxIndexBytes`, past which E_INDEX_TOO_LARGE hands the
 *   file to ffmpeg.
 */
function guardMatroskaCounts(mb: typeof Mediabunny): boolean {
  const prototype = demuxerPrototype<MatroskaWalker>(mb.MATROSKA, 'traverseElement');
  if (!prototype) return false;
  const traverse = prototype.traverseElement;
  /** Per segment's cue list: the keys seen, and how far the list has been checked. */
  const cuesSeen = new WeakMap<CuePoint[], { keys: Set<string>; checked: number }>();
  const clusterElements = new WeakMap<object, number>();
  prototype.traverseElement = function (this: MatroskaWalker, slice: unknown, stopIds: unknown) {
    const cap = capOf(this.reader);
    const cluster = this.currentCluster;
    if (cluster) {
      const elements = (clusterElements.get(cluster) ?? 0) + 1;
      clusterElements.set(cluster, elements);
      if (elements * FRAGMENT_SAMPLE_BYTES > cap) {
        throw indexTooLarge(
          `cluster (${elements} elements, held at about ${FRAGMENT_SAMPLE_BYTES} bytes each)`,
          elements * FRAGMENT_SAMPLE_BYTES,
          cap,
        );
      }
    }
    const found = traverse.call(this, slice, stopIds);
    const segment = this.currentSegment;
    if (!segment) return found;
    const cues = segment.cuePoints;
    let seen = cuesSeen.get(cues);
    if (!seen) cuesSeen.set(cues, (seen = { keys: new Set(), checked: 0 }));
    // The last cue point may still be filled in, or dropped, by the CueTrackPositions reading it.
    const ready = cues.length - 1;
    if (ready > seen.checked) {
      let kept = seen.checked;
      for (let at = seen.checked; at < ready; at++) {
        const key = `${cues[at]!.trackId}:${cues[at]!.time}`;
        if (seen.keys.has(key)) continue;
        seen.keys.add(key);
        cues[kept++] = cues[at]!;
      }
      cues[kept] = cues[ready]!;
      cues.length = kept + 1;
      seen.checked = kept;
      if (kept * FRAGMENT_SAMPLE_BYTES > cap) {
        throw indexTooLarge(`cues (${kept} points)`, kept * FRAGMENT_SAMPLE_BYTES, cap);
      }
    }
    if (segment.seekEntries.length > MAX_SEEK_ENTRIES) segment.seekEntries.length = MAX_SEEK_ENTRIES;
    if (segment.tracks.length > MAX_TRACKS) {
      throw new ThumbnailerError(
        'E_CORRUPT_VIDEO',
        `The video's container is corrupt: more than ${MAX_TRACKS} tracks.`,
      );
    }
    return found;
  };
  return true;
}
