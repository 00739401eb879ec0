import { ThumbnailerError } from '../errors.js';
import type { InputFacts } from './types.js';

/**
 * Facts no retry can change, checked before any output is made: without this they fail later in
 * ffmpeg as E_FFMPEG_FAILED, which is transient, and the message is retried to the poison limit.
 */

/** Widest pixel shape accepted: real anamorphic formats stay within 4:1 (e.g. 4:3, 64:45, 2:1). */
const MAX_PIXEL_SHAPE = 16;
/** Longest display side: past it no scaler, encoder or image format follows. */
const MAX_DISPLAY_SIDE = 65_535;

function ratio(text: string): { num: number; den: number } | undefined {
  const m = /^(-?\d+(?:\.\d+)?)[:/](-?\d+(?:\.\d+)?)$/.exec(text.trim());
  return m ? { num: Number(m[1]), den: Number(m[2]) } : undefined;
}

export function assertUsableFacts(facts: InputFacts): void {
  const { width, height } = facts;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new ThumbnailerError(
      'E_CORRUPT_VIDEO',
      `The video stream has no usable picture size (${width}x${height}).`,
    );
  }
  const sar = ratio(facts.sampleAspectRatio);
  const shape = sar ? sar.num / sar.den : NaN;
  // An unreadable ratio was taken as square pixels upstream; only a stated absurd one is refused.
  if (
    sar &&
    (!Number.isFinite(shape) || shape <= 0 || shape > MAX_PIXEL_SHAPE || shape < 1 / MAX_PIXEL_SHAPE)
  ) {
    throw new ThumbnailerError(
      'E_CORRUPT_VIDEO',
      `The video's sample aspect ratio ${facts.sampleAspectRatio} is not one a picture can be shown with (pixels at most ${MAX_PIXEL_SHAPE} times wider than tall, or taller than wide).`,
    );
  }
  const { displayWidth, displayHeight } = facts;
  if (
    !Number.isFinite(displayWidth) ||
    !Number.isFinite(displayHeight) ||
    displayWidth < 1 ||
    displayHeight < 1 ||
    displayWidth > MAX_DISPLAY_SIDE ||
    displayHeight > MAX_DISPLAY_SIDE
  ) {
    throw new ThumbnailerError(
      'E_CORRUPT_VIDEO',
      `The video would display at ${displayWidth}x${displayHeight}, which no picture can be made at (at most ${MAX_DISPLAY_SIDE} a side).`,
    );
  }
  if (!Number.isFinite(facts.duration) || facts.duration < 0) {
    throw new ThumbnailerError('E_CORRUPT_VIDEO', `The video's duration (${facts.duration}) is not a time.`);
  }
}

/**
 * ffmpeg failed because it has no decoder for the stream's codec (an unknown codec tag, or one this
 * build lacks): the same file fails the same way on every retry, so it is refused, naming the codec.
 */
export function missingDecoder(error: unknown): ThumbnailerError | undefined {
  if (!ThumbnailerError.is(error) || error.code !== 'E_FFMPEG_FAILED') return undefined;
  const tail = 'stderrTail' in error ? String(error.stderrTail) : '';
  const codec = /Decoder \(codec ([\w-]+)\) not found/i.exec(`${tail}\n${error.message}`)?.[1];
  if (!codec) return undefined;
  return new ThumbnailerError(
    'E_FORMAT_REFUSED',
    codec === 'none'
      ? "The video's codec is unknown to ffmpeg: there is no decoder for it."
      : `This ffmpeg has no decoder for the video's codec (${codec}); \`thumbnailer doctor\` lists what is missing.`,
    { cause: error },
  );
}
