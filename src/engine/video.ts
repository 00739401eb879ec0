import { join } from 'node:path';
import type { Input, InputVideoTrack, Source } from 'mediabunny';
import { checkSampleTable, mediabunny } from './mediabunny.js';
import { ThumbnailerError } from '../errors.js';
import { remuxArgs, transcodeArgs } from './compose.js';
import { failureReason, runFfmpeg } from './exec.js';
import type { Limits } from './options.js';
import {
  displaySize,
  factsFromProbe,
  ffprobeFile,
  hdrKind,
  isInterlaced,
  normaliseRotation,
  videoStream,
  type ProbeResult,
  type ProbeStream,
} from './probe.js';
import { checkMp4IndexSize } from './index-caps.js';
import { FrameIndex } from './selection.js';
import { SNIFF_BYTES, sniffContainer, type Container } from './sniff.js';
import { checkTempDisk, tempBytesNeeded, type ProxyRoute } from './disk.js';
import { downloadTo, type ByteSource } from './source.js';
import { missingDecoder } from './verdicts.js';
import type { InputFacts, Manifest } from './types.js';

/** Containers the index route reads in place; nothing else is ever handed to the demuxer. */
const indexedFormats = () => {
  const { MP4, QTFF, MATROSKA, WEBM } = mediabunny();
  return [MP4, QTFF, MATROSKA, WEBM];
};
/** Codecs a selection file can carry: mediabunny's names and ffmpeg's. */
const FFMPEG_CODEC_NAMES: Record<string, string> = {
  avc: 'h264',
  hevc: 'hevc',
  vp8: 'vp8',
  vp9: 'vp9',
  av1: 'av1',
};
const COPYABLE_CODECS = new Set(Object.keys(FFMPEG_CODEC_NAMES));
const COPYABLE_FFMPEG_CODECS = new Set(Object.values(FFMPEG_CODEC_NAMES));

export interface OpenVideo {
  facts: InputFacts;
  index: FrameIndex;
  route: Manifest['route'];
  /** Version of the ffmpeg libraries, from the probe (no process of its own). */
  ffmpegVersion: string;
  /** A local file ffmpeg can read whole (the input itself, or the proxy), for a sequential pass. */
  local?: { path: string; demuxer: Container['demuxer'] };
  /** Average frames per second from the index (0 when unknown). */
  frameRate: number;
  dispose(): Promise<void>;
}

interface OpenContext {
  work: string;
  limits: Limits;
  signal?: AbortSignal;
  /** Refuse the remux and transcode routes (E_FRAME_UNAVAILABLE): no download, no ffmpeg pass. */
  indexOnly?: boolean;
}

/**
 * Recognises the container by its bytes and opens the video for frame selection:
 * - `index`: MP4/MOV/Matroska/WebM with a copyable codec, read in place (ranges only);
 * - `remux`: other containers (MPEG-TS, AVI, ...) with a copyable codec, stream-copied to Matroska;
 * - `transcode`: codecs a selection file cannot carry (MPEG-2, ProRes, ...), re-encoded to an H.264 proxy.
 * The last two need the bytes locally: a remote input is then downloaded to a bounded temp file.
 */
export async function openVideo(bytes: ByteSource, context: OpenContext): Promise<OpenVideo> {
  if (bytes.size > context.limits.maxInputBytes) {
    throw new ThumbnailerError(
      'E_LIMIT_EXCEEDED',
      `The input is ${bytes.size} bytes, over the limit of ${context.limits.maxInputBytes}.`,
    );
  }
  const head = await bytes.read(0, Math.min(SNIFF_BYTES, bytes.size), context.signal);
  const container = sniffContainer(head, bytes.size);
  if (container.indexed && container.demuxer === 'mov') {
    await checkMp4IndexSize(bytes.read, bytes.size, context.limits.maxIndexBytes, context.signal);
  }
  // A local file is probed whole, from the start: ffprobe spends about 0.13 s loading its
  // libraries, which now overlaps with loading mediabunny and reading the index. A remote one is
  // probed through a one-keyframe sample once its index is read; an on-demand frame from a
  // container without an index is refused before any probe.
  const localProbe =
    bytes.localPath && (container.indexed || !context.indexOnly)
      ? settle(ffprobeFile(bytes.localPath, container.demuxer, context.signal))
      : undefined;
  try {
    return await openWithProbe(bytes, container, context, localProbe);
  } finally {
    // Never leave the probe running past the open (it ends with the file's first packets).
    await localProbe;
  }
}

/** A promise that never rejects: its outcome, to read when (and if) it is needed. */
type Settled<T> = Promise<{ ok: true; value: T } | { ok: false; error: unknown }>;

function settle<T>(promise: Promise<T>): Settled<T> {
  return promise.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
}

async function openWithProbe(
  bytes: ByteSource,
  container: Container,
  context: OpenContext,
  localProbe: Settled<ProbeResult> | undefined,
): Promise<OpenVideo> {
  if (container.indexed) {
    const source = bytes.demuxerSource(
      context.limits.maxIndexBytes,
      bytes.localPath && container.demuxer === 'matroska' ? 'readAhead' : 'exact',
    );
    try {
      const direct = await openIndexed(source, bytes, container, context, localProbe);
      if (direct) return direct;
    } catch (error) {
      // A Matroska cluster is read whole: one over the cap (a live recording written as a single
      // cluster, say) is stream-copied by ffmpeg into bounded clusters instead. An MP4 moov over
      // the cap has no such way round.
      if (!(
        ThumbnailerError.is(error) &&
        error.code === 'E_INDEX_TOO_LARGE' &&
        container.demuxer === 'matroska'
      ))
        throw error;
    }
  }
  if (context.indexOnly) {
    throw new ThumbnailerError(
      'E_FRAME_UNAVAILABLE',
      `This ${container.label} video cannot be read in place through its container index, so no frame is made on demand.`,
    );
  }
  return openThroughProxy(bytes, container, context, localProbe);
}

async function primaryTrack(input: Input): Promise<InputVideoTrack | null> {
  try {
    return await input.getPrimaryVideoTrack();
  } catch (error) {
    if (ThumbnailerError.is(error)) throw error;
    return null;
  }
}

export interface TrackIndex {
  input: Input;
  track: InputVideoTrack;
  /** The track's codec, one a selection file can carry. */
  codec: NonNullable<InputVideoTrack['codec']>;
  /** Timestamp of the first frame: the video's time 0. */
  start: number;
  index: FrameIndex;
}

/**
 * The demuxer's half of the index route, without ffmpeg: the primary video track of an MP4 or
 * Matroska source and its frame index, or undefined when there is no track or its codec cannot go
 * into a selection file. The caller disposes of `input`.
 */
export async function openTrackIndex(
  source: Source,
  maxSampleBytes: number,
): Promise<TrackIndex | undefined> {
  const input = new (mediabunny().Input)({ source, formats: indexedFormats() });
  try {
    const track = await primaryTrack(input);
    if (!track || !track.codec || !COPYABLE_CODECS.has(track.codec)) {
      input.dispose();
      return undefined;
    }
    checkSampleTable(track);
    const start = await track.getFirstTimestamp();
    return { input, track, codec: track.codec, start, index: new FrameIndex(track, start, maxSampleBytes) };
  } catch (error) {
    input.dispose();
    throw error;
  }
}

/** The index route, or undefined when this file needs the proxy route instead. */
async function openIndexed(
  source: Source,
  bytes: ByteSource,
  container: Container,
  context: OpenContext,
  localProbe: Settled<ProbeResult> | undefined,
): Promise<OpenVideo | undefined> {
  let opened: TrackIndex | undefined;
  const dispose = async () => opened?.input.dispose();
  try {
    opened = await openTrackIndex(source, context.limits.maxSampleBytes);
    if (!opened) return undefined;
    const { input, track, codec, start, index } = opened;
    // ffprobe tells what the bitstream says: field order, pixel format, colour. The whole local
    // file's probe serves when its one video stream is this track; otherwise one keyframe is
    // probed on its own, while the duration is found (a read of every cluster when the header has
    // none, as in a MediaRecorder upload).
    const probeTrack = async () => {
      const whole = await localProbe;
      const stream = whole?.ok ? streamOfTrack(whole.value, track) : undefined;
      if (whole?.ok && stream) return { probe: whole.value, stream };
      const samplePath = join(context.work, 'probe-sample.mkv');
      await index.write(samplePath, [0], 'fast', context.signal);
      const probe = await ffprobeFile(samplePath, 'matroska', context.signal);
      return { probe, stream: videoStream(probe) };
    };
    const [end, probed] = await Promise.all([
      track
        .getDurationFromMetadata()
        .catch(() => null)
        .then((fromHeader) => fromHeader ?? track.computeDuration()),
      probeTrack(),
    ]);
    const { stream } = probed;
    const rotation = normaliseRotation(track.rotation);
    const par = track.pixelAspectRatio;
    const containerSar =
      par.num > 0 && par.den > 0 && par.num !== par.den ? `${par.num}:${par.den}` : undefined;
    const sar =
      containerSar ??
      (stream.sample_aspect_ratio && stream.sample_aspect_ratio !== '0:1'
        ? stream.sample_aspect_ratio
        : '1:1');
    const [sarNum, sarDen] = sar.split(':').map(Number);
    const width = track.codedWidth;
    const height = track.codedHeight;
    const colour = await track.getColorSpace();
    const stats = await track.computePacketStats(100).catch(() => undefined);
    const facts: InputFacts = {
      name: bytes.name,
      etag: bytes.etag,
      size: bytes.size,
      container: container.label,
      duration: round3(Math.max(0, end - start)),
      codec: stream.codec_name ?? codec,
      profile: stream.profile,
      pixelFormat: stream.pix_fmt,
      width,
      height,
      ...displaySize(width, height, (sarNum ?? 1) / (sarDen ?? 1), rotation),
      rotation,
      sampleAspectRatio: sar,
      frameRate: stats ? round3(stats.averagePacketRate) : undefined,
      hdr: hdrKind(colour.transfer ?? undefined) ?? hdrKind(stream.color_transfer),
      interlaced: isInterlaced(stream),
      hasAudio: (await input.getAudioTracks()).length > 0,
    };
    return {
      facts,
      index,
      route: 'index',
      ffmpegVersion: versionOf(probed.probe),
      local: bytes.localPath ? { path: bytes.localPath, demuxer: container.demuxer } : undefined,
      frameRate: stats?.averagePacketRate ?? 0,
      dispose,
    };
  } catch (error) {
    await dispose();
    if (ThumbnailerError.is(error) && error.code !== 'E_CORRUPT_VIDEO' && error.code !== 'E_FFMPEG_FAILED')
      throw error;
    // The demuxer could not make sense of the file: let ffmpeg have a look (and say why it fails).
    if (ThumbnailerError.is(error) || error instanceof Error) return undefined;
    throw error;
  }
}

/**
 * The stream of a whole-file probe that is this track: the file's only video stream (cover art
 * aside), with the same codec and picture size. Anything less certain is probed through a sample.
 */
function streamOfTrack(probe: ProbeResult, track: InputVideoTrack): ProbeStream | undefined {
  const videos = probe.streams.filter((s) => s.codec_type === 'video' && !s.disposition?.attached_pic);
  const stream = videos[0];
  if (videos.length !== 1 || !stream || !track.codec) return undefined;
  const sameCodec = stream.codec_name === FFMPEG_CODEC_NAMES[track.codec];
  const sameSize = stream.width === track.codedWidth && stream.height === track.codedHeight;
  return sameCodec && sameSize ? stream : undefined;
}

/** Temporary disk for the rest of the proxy route (the input copy, when made, is already on disk). */
function checkProxyDisk(
  bytes: ByteSource,
  route: ProxyRoute,
  copied: boolean,
  context: OpenContext,
): Promise<void> {
  const local = Boolean(bytes.localPath);
  const needed = tempBytesNeeded(bytes.size, route, local);
  // Once the copy exists, it counts against the limit but no longer against the free space.
  const stillToWrite = copied && !local ? needed - bytes.size : needed;
  return checkTempDisk(context.work, needed, context.limits.maxTempBytes, route, stillToWrite);
}

async function openThroughProxy(
  bytes: ByteSource,
  container: Container,
  context: OpenContext,
  localProbe: Settled<ProbeResult> | undefined,
): Promise<OpenVideo> {
  let localPath = bytes.localPath;
  // The route is known only after a probe of the copy: before making it, check for the lighter
  // route (a remux); once the codec is known, for the route taken.
  if (!localPath) await checkProxyDisk(bytes, 'remux', false, context);
  if (!localPath) {
    localPath = join(context.work, 'input');
    await downloadTo(bytes, localPath, context.limits.maxInputBytes, context.signal);
  }
  const earlier = localPath === bytes.localPath ? await localProbe : undefined;
  if (earlier && !earlier.ok) throw earlier.error;
  const probe = earlier?.value ?? (await ffprobeFile(localPath, container.demuxer, context.signal));
  const facts = factsFromProbe(probe, {
    name: bytes.name,
    size: bytes.size,
    etag: bytes.etag,
    container: container.label,
  });
  if (facts.width * facts.height > context.limits.maxPixels) {
    throw new ThumbnailerError(
      'E_LIMIT_EXCEEDED',
      `The picture is ${facts.width}x${facts.height}, over the limit of ${context.limits.maxPixels} pixels.`,
    );
  }
  if (facts.duration > context.limits.maxDurationSeconds) {
    throw new ThumbnailerError(
      'E_LIMIT_EXCEEDED',
      `The video lasts ${facts.duration} s, over the limit of ${context.limits.maxDurationSeconds} s.`,
    );
  }
  const copyable = COPYABLE_FFMPEG_CODECS.has(facts.codec);
  await checkProxyDisk(bytes, copyable ? 'remux' : 'transcode', true, context);
  const proxyPath = join(context.work, 'proxy.mkv');
  const args = copyable
    ? remuxArgs(localPath, container.demuxer, proxyPath, context.limits)
    : transcodeArgs(localPath, container.demuxer, facts, proxyPath, context.limits);
  await runFfmpeg(args, {
    signal: context.signal,
    timeoutMs: context.limits.ffmpegTimeoutMs,
    stallTimeoutMs: context.limits.ffmpegStallTimeoutMs,
  }).catch((error: unknown) => {
    const refused = missingDecoder(error);
    if (refused) throw refused;
    if (ThumbnailerError.is(error) && error.code === 'E_FFMPEG_FAILED') {
      throw new ThumbnailerError('E_CORRUPT_VIDEO', `The video cannot be read: ${failureReason(error)}`, {
        cause: error,
      });
    }
    throw error;
  });
  const mb = mediabunny();
  const input = new mb.Input({ source: new mb.FilePathSource(proxyPath), formats: [mb.MATROSKA] });
  const track = await primaryTrack(input);
  if (!track || !track.codec) {
    input.dispose();
    throw new ThumbnailerError(
      'E_CORRUPT_VIDEO',
      'The video stream could not be read back after conversion.',
    );
  }
  const start = await track.getFirstTimestamp();
  const end = await track.computeDuration();
  if (!facts.duration) facts.duration = round3(end - start);
  const stats = await track.computePacketStats(100).catch(() => undefined);
  return {
    facts,
    index: new FrameIndex(track, start, context.limits.maxSampleBytes),
    route: copyable ? 'remux' : 'transcode',
    ffmpegVersion: versionOf(probe),
    local: { path: proxyPath, demuxer: 'matroska' },
    frameRate: stats?.averagePacketRate ?? facts.frameRate ?? 0,
    dispose: async () => input.dispose(),
  };
}

const round3 = (n: number) => Math.round(n * 1000) / 1000;

const versionOf = (probe: ProbeResult) => `ffmpeg version ${probe.program_version?.version ?? 'unknown'}`;
