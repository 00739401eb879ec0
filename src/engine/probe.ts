import { ThumbnailerError } from '../errors.js';
import { failureReason, runFfprobe } from './exec.js';
import type { InputFacts } from './types.js';

/** What ffprobe says of a video stream (the fields we read). */
export interface ProbeStream {
  index: number;
  codec_type?: string;
  codec_name?: string;
  profile?: string;
  width?: number;
  height?: number;
  pix_fmt?: string;
  field_order?: string;
  color_transfer?: string;
  sample_aspect_ratio?: string;
  avg_frame_rate?: string;
  r_frame_rate?: string;
  nb_frames?: string;
  duration?: string;
  tags?: Record<string, string>;
  side_data_list?: { side_data_type?: string; rotation?: number }[];
  disposition?: { attached_pic?: number };
}

export interface ProbeResult {
  /** The ffprobe build that answered (the same libraries as the ffmpeg next to it). */
  program_version?: { version?: string };
  streams: ProbeStream[];
  format?: { duration?: string; format_name?: string; size?: string };
}

/**
 * ffprobe on a local file with one demuxer forced and only the `file` protocol allowed, so nothing
 * inside the file can make it open another file or a URL.
 */
export async function ffprobeFile(path: string, demuxer: string, signal?: AbortSignal): Promise<ProbeResult> {
  const { stdout } = await runFfprobe(
    [
      '-protocol_whitelist',
      'file',
      '-format_whitelist',
      demuxer,
      '-f',
      demuxer,
      '-show_streams',
      '-show_format',
      '-show_program_version',
      '-of',
      'json',
      'file:' + path,
    ],
    { signal, timeoutMs: 60_000, maxStdoutBytes: 16 * 1024 * 1024 },
  ).catch((error: unknown) => {
    if (ThumbnailerError.is(error) && error.code === 'E_FFMPEG_FAILED') {
      throw new ThumbnailerError('E_CORRUPT_VIDEO', `The video cannot be read: ${failureReason(error)}`, {
        cause: error,
      });
    }
    throw error;
  });
  return JSON.parse(stdout.toString('utf8')) as ProbeResult;
}

export function videoStream(probe: ProbeResult): ProbeStream {
  const stream = probe.streams.find((s) => s.codec_type === 'video' && !s.disposition?.attached_pic);
  if (!stream) throw new ThumbnailerError('E_NO_VIDEO_STREAM', 'The file has no video stream.');
  return stream;
}

export function parseRatio(text: string | undefined): number | undefined {
  if (!text) return undefined;
  const [a, b] = text.split(/[:/]/).map(Number);
  if (!a || !b || !Number.isFinite(a / b)) return undefined;
  return a / b;
}

/** Rotation to apply for display, clockwise degrees in {0, 90, 180, 270}. */
export function streamRotation(stream: ProbeStream): number {
  const matrix = stream.side_data_list?.find((d) => d.rotation !== undefined)?.rotation;
  // ffprobe's display-matrix rotation is counter-clockwise; the old `rotate` tag is clockwise.
  const clockwise = matrix !== undefined ? -matrix : Number(stream.tags?.rotate ?? 0);
  return normaliseRotation(clockwise);
}

export function normaliseRotation(degrees: number): number {
  const r = (((Math.round(degrees / 90) * 90) % 360) + 360) % 360;
  return r;
}

export function hdrKind(transfer: string | undefined): 'pq' | 'hlg' | undefined {
  if (!transfer) return undefined;
  if (transfer === 'smpte2084' || transfer === 'pq') return 'pq';
  if (transfer === 'arib-std-b67' || transfer === 'hlg') return 'hlg';
  return undefined;
}

export function isInterlaced(stream: ProbeStream): boolean {
  return ['tt', 'bb', 'tb', 'bt'].includes(stream.field_order ?? '');
}

/** Display size: pixels made square, then rotation applied. */
export function displaySize(width: number, height: number, sar: number, rotation: number) {
  const squareWidth = sar >= 1 ? Math.round(width * sar) : width;
  const squareHeight = sar >= 1 ? height : Math.round(height / sar);
  const turned = rotation === 90 || rotation === 270;
  return {
    displayWidth: turned ? squareHeight : squareWidth,
    displayHeight: turned ? squareWidth : squareHeight,
  };
}

/** Facts of a whole file as ffprobe reads them (the remux and transcode routes). */
export function factsFromProbe(
  probe: ProbeResult,
  base: { name: string; size: number; etag?: string; container: string },
): InputFacts {
  const stream = videoStream(probe);
  const width = stream.width ?? 0;
  const height = stream.height ?? 0;
  if (!width || !height)
    throw new ThumbnailerError('E_CORRUPT_VIDEO', 'The video stream has no picture size.');
  const sar = parseRatio(stream.sample_aspect_ratio) ?? 1;
  const rotation = streamRotation(stream);
  const duration = Number(probe.format?.duration ?? stream.duration ?? 0) || 0;
  const frameRate = parseRatio(stream.avg_frame_rate) ?? parseRatio(stream.r_frame_rate);
  return {
    ...base,
    duration,
    codec: stream.codec_name ?? 'unknown',
    profile: stream.profile,
    pixelFormat: stream.pix_fmt,
    width,
    height,
    ...displaySize(width, height, sar, rotation),
    rotation,
    sampleAspectRatio:
      stream.sample_aspect_ratio && stream.sample_aspect_ratio !== '0:1' ? stream.sample_aspect_ratio : '1:1',
    frameRate: frameRate ? Math.round(frameRate * 1000) / 1000 : undefined,
    frameCount: stream.nb_frames ? Number(stream.nb_frames) : undefined,
    hdr: hdrKind(stream.color_transfer),
    interlaced: isInterlaced(stream),
    hasAudio: probe.streams.some((s) => s.codec_type === 'audio'),
  };
}
