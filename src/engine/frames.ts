import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ThumbnailerError } from '../errors.js';
import { frameToStdoutArgs } from './compose.js';
import { runFfmpeg } from './exec.js';
import { makeTempFolder } from './temp.js';
import { assertUsableFacts } from './verdicts.js';
import { DEFAULT_LIMITS, type Limits } from './options.js';
import { fitSize } from './plan.js';
import { openByteSource, type ByteSource } from './source.js';
import { checkStillSize } from './still-format.js';
import type { InputFacts, RangedVideoSource, VideoSource } from './types.js';
import { openVideo, type OpenVideo } from './video.js';

export interface FrameRequest {
  /** Seconds from the start; must lie within the video. */
  time: number;
  width: number;
  /** `fast`: the keyframe at or before `time`; `accurate`: the exact frame. */
  mode: 'fast' | 'accurate';
  format: 'jpg' | 'webp';
  signal?: AbortSignal;
}

export interface FrameResult {
  data: Buffer;
  contentType: string;
  /** Time of the frame shown (the keyframe at or before `time` in fast mode). */
  actualTime: number;
  width: number;
  height: number;
  /** Bytes this request read from the source (the index is read once per open video). */
  bytesRead: number;
}

interface OpenEntry {
  video: OpenVideo;
  bytes: ByteSource;
  work: string;
  lastUsed: number;
  /** Bytes read to open it (the container index and one sample): what its index holds in memory. */
  openBytes: number;
  /** Frames being made from it: an entry in use is never evicted. */
  busy: number;
  /** Serialises selections on one video: the demuxer's reads are not meant to interleave. */
  queue: Promise<unknown>;
}

const MAX_FRAME_WIDTH = 1920;
/** What the demuxer's read cache may hold per open video (source.ts gives it 16 MiB). */
const DEMUXER_CACHE_BYTES = 16 * 1024 * 1024;
/** Keyframes kept per open video, so that frames near one another read their keyframe once. */
const KEPT_KEYFRAME_BYTES = 16 * 1024 * 1024;

export interface FrameServiceOptions {
  /** Open videos kept (each holds a temp folder and, for files, a handle); default 16. */
  maxOpenVideos?: number;
  /** Memory the open videos' indexes and read caches may hold together; default 256 MiB. */
  maxCacheBytes?: number;
  /**
   * Refuse videos the container index cannot serve (E_FRAME_UNAVAILABLE) instead of downloading
   * and remuxing or transcoding them: what a request-serving process wants.
   */
  indexOnly?: boolean;
  tempDir?: string;
  limits?: Partial<Limits>;
}

const canceled = () => new ThumbnailerError('E_CANCELED', 'The request was canceled.');

/**
 * One frame of a video on demand, without a job: the index route again (container index once per
 * video, cached; then a keyframe, or a keyframe and the frames up to the exact time). Keys name a
 * version of a video (e.g. blob name + ETag), so a changed video is never served from a stale index.
 */
export class FrameService {
  private readonly open = new Map<string, Opening>();
  /** Evicted entries still being closed. */
  private readonly closing = new Set<Promise<unknown>>();

  constructor(private readonly options: FrameServiceOptions = {}) {}

  async facts(key: string, source: () => Promise<VideoSource>): Promise<InputFacts> {
    const entry = await this.acquire(key, source);
    entry.busy -= 1;
    return entry.video.facts;
  }

  async frame(key: string, source: () => Promise<VideoSource>, request: FrameRequest): Promise<FrameResult> {
    const entry = await this.acquire(key, source, request.signal);
    try {
      return await this.make(entry, request);
    } finally {
      entry.busy -= 1;
      entry.lastUsed = Date.now();
      this.evict();
    }
  }

  private async make(entry: OpenEntry, request: FrameRequest): Promise<FrameResult> {
    const facts = entry.video.facts;
    if (!Number.isFinite(request.time) || request.time < 0 || request.time > facts.duration) {
      throw new ThumbnailerError(
        'E_OPTION_INVALID',
        `time must be between 0 and the duration (${facts.duration} s).`,
        { field: 'time' },
      );
    }
    if (!Number.isInteger(request.width) || request.width < 16 || request.width > MAX_FRAME_WIDTH) {
      throw new ThumbnailerError(
        'E_OPTION_INVALID',
        `width must be a whole number from 16 to ${MAX_FRAME_WIDTH}.`,
        { field: 'width' },
      );
    }
    const limits = { ...DEFAULT_LIMITS, ...this.options.limits };
    const size = fitSize(facts, { width: request.width });
    checkStillSize(request.format, size, 'frame', 'width', 'ask for a smaller width');
    const run = async (): Promise<FrameResult> => {
      // Gone while waiting for the requests before it: nothing to make.
      if (request.signal?.aborted) throw canceled();
      const before = entry.bytes.bytesRead();
      const path = join(entry.work, `${randomUUID()}.mkv`);
      try {
        const selection = await entry.video.index.write(
          path,
          [request.time],
          request.mode === 'fast' ? 'previous-keyframe' : 'accurate',
          request.signal,
        );
        const { stdout } = await runFfmpeg(frameToStdoutArgs(path, facts, size, request.format, limits), {
          signal: request.signal,
          timeoutMs: 60_000,
          captureStdout: true,
          maxStdoutBytes: 32 * 1024 * 1024,
        });
        if (stdout.length === 0)
          throw new ThumbnailerError('E_CORRUPT_VIDEO', 'The frame could not be decoded.');
        return {
          data: stdout,
          contentType: request.format === 'jpg' ? 'image/jpeg' : 'image/webp',
          actualTime: selection.frames[0]!.actual,
          ...size,
          bytesRead: entry.bytes.bytesRead() - before,
        };
      } finally {
        await rm(path, { force: true });
      }
    };
    const result = entry.queue.then(run, run);
    entry.queue = result.catch(() => undefined);
    entry.lastUsed = Date.now();
    return result;
  }

  /**
   * The open video of `key`, opening it once for all its requesters, returned in use (`busy`
   * counted: the caller gives it back). The open stops when every requester waiting for it has
   * gone away; one that goes away is answered E_CANCELED at once.
   */
  private async acquire(
    key: string,
    source: () => Promise<VideoSource>,
    signal?: AbortSignal,
  ): Promise<OpenEntry> {
    if (signal?.aborted) throw canceled();
    let opening = this.open.get(key);
    if (!opening) {
      const controller = new AbortController();
      const created: Opening = { entry: this.openEntry(source, controller.signal), controller, waiting: 0 };
      opening = created;
      this.open.set(key, created);
      created.entry.then(
        (entry) => {
          created.value = entry;
          this.evict();
        },
        () => undefined,
      );
      void created.entry.finally(() => (created.settled = true)).catch(() => undefined);
      // A failed open is not cached: the next request tries again.
      created.entry.catch(() => this.forget(key, created));
    }
    const waiter = opening;
    // Waiting requesters keep the entry from eviction until they count as busy (same tick).
    waiter.waiting += 1;
    let onAbort: (() => void) | undefined;
    let left = false;
    const gone = new Promise<never>((_, reject) => {
      onAbort = () => {
        left = true;
        waiter.waiting -= 1;
        if (waiter.waiting === 0 && !waiter.settled) {
          // The last requester waiting for an open in progress has gone: stop reading, and let
          // the next requester start afresh.
          waiter.controller.abort();
          this.forget(key, waiter);
        }
        reject(canceled());
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    });
    try {
      const entry = await Promise.race([waiter.entry, gone]);
      entry.busy += 1;
      return entry;
    } finally {
      if (!left) waiter.waiting -= 1;
      signal?.removeEventListener('abort', onAbort!);
    }
  }

  private forget(key: string, opening: Opening): void {
    if (this.open.get(key) === opening) this.open.delete(key);
  }

  private async openEntry(source: () => Promise<VideoSource>, signal: AbortSignal): Promise<OpenEntry> {
    const work = await makeTempFolder(this.options.tempDir ?? tmpdir(), 'frames');
    try {
      const limits = { ...DEFAULT_LIMITS, ...this.options.limits };
      const bytes = await openByteSource(abortable(await source(), signal), signal);
      try {
        const video = await openVideo(bytes, { work, limits, signal, indexOnly: this.options.indexOnly });
        try {
          assertUsableFacts(video.facts);
        } catch (error) {
          await video.dispose();
          throw error;
        }
        video.index.retainKeyframes(KEPT_KEYFRAME_BYTES);
        const openBytes = bytes.bytesRead();
        return { video, bytes, work, lastUsed: Date.now(), openBytes, busy: 0, queue: Promise.resolve() };
      } catch (error) {
        await bytes.close();
        throw error;
      }
    } catch (error) {
      await rm(work, { recursive: true, force: true });
      throw signal.aborted ? canceled() : error;
    }
  }

  /**
   * Keeps the open videos within `maxCacheBytes` (their indexes and read caches) and
   * `maxOpenVideos`, dropping the least recently used ones not in use.
   */
  private evict(): void {
    const maxBytes = this.options.maxCacheBytes ?? 256 * 1024 * 1024;
    const maxCount = this.options.maxOpenVideos ?? 16;
    const open = [...this.open].filter(([, o]) => o.value) as [string, Opening & { value: OpenEntry }][];
    let bytes = open.reduce((sum, [, o]) => sum + entryCost(o.value), 0);
    let count = this.open.size;
    open.sort(([, a], [, b]) => a.value.lastUsed - b.value.lastUsed);
    for (const [key, o] of open) {
      if (bytes <= maxBytes && count <= maxCount) break;
      if (o.value.busy > 0 || o.waiting > 0) continue;
      this.open.delete(key);
      bytes -= entryCost(o.value);
      count -= 1;
      const closing = closeEntry(o.value).catch(() => undefined);
      this.closing.add(closing);
      void closing.finally(() => this.closing.delete(closing));
    }
  }

  /** Memory the open videos hold, as `evict` counts it. */
  cacheBytes(): number {
    return [...this.open.values()].reduce((sum, o) => sum + (o.value ? entryCost(o.value) : 0), 0);
  }

  async close(): Promise<void> {
    const entries = await Promise.all([...this.open.values()].map((o) => o.entry.catch(() => undefined)));
    this.open.clear();
    await Promise.all([...entries.map((e) => e && closeEntry(e)), ...this.closing]);
  }
}

interface Opening {
  entry: Promise<OpenEntry>;
  /** The open has finished (either way): aborting it no longer means anything. */
  settled?: boolean;
  /** The open video, once open. */
  value?: OpenEntry;
  /** Stops the open once nobody waits for it. */
  controller: AbortController;
  waiting: number;
}

/** The index (as the bytes read to parse it), what the demuxer's cache may hold since, the kept keyframes. */
function entryCost(entry: OpenEntry): number {
  const read = Math.min(entry.bytes.bytesRead(), entry.openBytes + DEMUXER_CACHE_BYTES);
  return read + entry.video.index.keptBytes();
}

/** The source with every read stopped by `signal` (the demuxer's own reads carry none). */
function abortable(source: VideoSource, signal: AbortSignal): VideoSource {
  if (source.kind !== 'ranged') return source;
  const ranged: RangedVideoSource = {
    ...source,
    read: async (start, end, options) => {
      if (signal.aborted) throw canceled();
      return source.read(start, end, {
        signal: options?.signal ? AbortSignal.any([options.signal, signal]) : signal,
      });
    },
  };
  return ranged;
}

async function closeEntry(entry: OpenEntry): Promise<void> {
  await entry.queue;
  await entry.video.dispose();
  await entry.bytes.close();
  await rm(entry.work, { recursive: true, force: true });
}
