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
import type { InputFacts, VideoSource } from './types.js';
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
  /** Serialises selections on one video: the demuxer's reads are not meant to interleave. */
  queue: Promise<unknown>;
}

const MAX_FRAME_WIDTH = 1920;

/**
 * One frame of a video on demand, without a job: the index route again (container index once per
 * video, cached; then a keyframe, or a keyframe and the frames up to the exact time). Keys name a
 * version of a video (e.g. blob name + ETag), so a changed video is never served from a stale index.
 */
export class FrameService {
  private readonly open = new Map<string, Promise<OpenEntry>>();

  constructor(
    private readonly options: { maxOpenVideos?: number; tempDir?: string; limits?: Partial<Limits> } = {},
  ) {}

  async facts(key: string, source: () => Promise<VideoSource>): Promise<InputFacts> {
    return (await this.entry(key, source)).video.facts;
  }

  async frame(key: string, source: () => Promise<VideoSource>, request: FrameRequest): Promise<FrameResult> {
    const entry = await this.entry(key, source);
    const facts = entry.video.facts;
    if (!Number.isFinite(request.time) || request.time < 0 || request.time > facts.duration) {
      throw new ThumbnailerError(
        'E_OPTION_INVALID',
        `time must be between 0 and the duration (${facts.duration} s).`,
      );
    }
    if (!Number.isInteger(request.width) || request.width < 16 || request.width > MAX_FRAME_WIDTH) {
      throw new ThumbnailerError(
        'E_OPTION_INVALID',
        `width must be a whole number from 16 to ${MAX_FRAME_WIDTH}.`,
      );
    }
    const limits = { ...DEFAULT_LIMITS, ...this.options.limits };
    const size = fitSize(facts, { width: request.width });
    const run = async (): Promise<FrameResult> => {
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

  private entry(key: string, source: () => Promise<VideoSource>): Promise<OpenEntry> {
    let entry = this.open.get(key);
    if (!entry) {
      entry = this.openEntry(source);
      this.open.set(key, entry);
      // A failed open is not cached: the next request tries again.
      entry.catch(() => this.open.delete(key));
      void this.evict();
    }
    return entry;
  }

  private async openEntry(source: () => Promise<VideoSource>): Promise<OpenEntry> {
    const work = await makeTempFolder(this.options.tempDir ?? tmpdir(), 'frames');
    try {
      const limits = { ...DEFAULT_LIMITS, ...this.options.limits };
      const bytes = await openByteSource(await source());
      const video = await openVideo(bytes, { work, limits });
      try {
        assertUsableFacts(video.facts);
      } catch (error) {
        await video.dispose();
        throw error;
      }
      return { video, bytes, work, lastUsed: Date.now(), queue: Promise.resolve() };
    } catch (error) {
      await rm(work, { recursive: true, force: true });
      throw error;
    }
  }

  /** Keeps at most `maxOpenVideos` indexes in memory, dropping the least recently used. */
  private async evict(): Promise<void> {
    const max = this.options.maxOpenVideos ?? 16;
    if (this.open.size <= max) return;
    const settled = await Promise.all(
      [...this.open].map(async ([key, p]) => ({ key, entry: await p.catch(() => undefined) })),
    );
    settled.sort((a, b) => (a.entry?.lastUsed ?? 0) - (b.entry?.lastUsed ?? 0));
    for (const { key, entry } of settled.slice(0, this.open.size - max)) {
      this.open.delete(key);
      if (entry) await closeEntry(entry);
    }
  }

  async close(): Promise<void> {
    const entries = await Promise.all([...this.open.values()].map((p) => p.catch(() => undefined)));
    this.open.clear();
    await Promise.all(entries.map((e) => e && closeEntry(e)));
  }
}

async function closeEntry(entry: OpenEntry): Promise<void> {
  await entry.queue;
  await entry.video.dispose();
  await entry.bytes.close();
  await rm(entry.work, { recursive: true, force: true });
}
