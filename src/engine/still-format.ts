import { ThumbnailerError } from '../errors.js';

/**
 * The one place that knows how still images (strip, poster, storyboard sheets) are encoded: file
 * extension, content type, pixel format and encoder arguments for the `format` option.
 */

export const STILL_FORMATS = ['jpg', 'webp'] as const;
export type StillFormat = (typeof STILL_FORMATS)[number];

/** WebP's format limit on either side of a picture. */
export const WEBP_MAX_SIDE = 16383;

/** `strip` -> `strip.jpg` or `strip.webp`. */
export function stillFile(base: string, format: StillFormat = 'jpg'): string {
  return `${base}.${format}`;
}

export function stillContentType(format: StillFormat = 'jpg'): string {
  return format === 'webp' ? 'image/webp' : 'image/jpeg';
}

/**
 * The last filter (pixel format the encoder expects) and the encoder arguments. `quality` is on
 * the JPEG scale the options use (`-q:v`, 1 best to 31 worst); WebP gets the matching `-quality`
 * (1 -> 95, 10 -> 81, 31 -> 47).
 */
export function stillEncoding(
  format: StillFormat = 'jpg',
  quality: number,
): { pixelFormat: string; args: string[] } {
  if (format === 'webp') {
    const webpQuality = Math.round(Math.min(95, Math.max(40, 95 - 1.6 * (quality - 1))));
    return { pixelFormat: 'yuv420p', args: ['-c:v', 'libwebp', '-quality', String(webpQuality)] };
  }
  // Full-range 4:2:0, what the JPEG encoder expects. One thread: each image is encoded once, and
  // slice threads cost memory in every output of the run without making a sheet sooner.
  return {
    pixelFormat: 'yuvj420p',
    args: ['-c:v', 'mjpeg', '-q:v', String(quality), '-threads', '1'],
  };
}

/** JPEG's format limit on either side of a picture. */
export const JPEG_MAX_SIDE = 65_535;

/**
 * The largest frame ffmpeg allocates: libavutil refuses a picture whose padded size
 * (`(w + 128) * (h + 128) * 8`) reaches INT_MAX, and every filter and encoder with it.
 */
const fitsFfmpegFrame = ({ width, height }: { width: number; height: number }) =>
  (width + 128) * (height + 128) * 8 < 2 ** 31 - 1;

/**
 * A picture its format or ffmpeg cannot hold is refused by name, before any decoding, rather than
 * failing in ffmpeg as E_FFMPEG_FAILED (transient: retried to the poison limit). `field` is the
 * option that sizes it (`width` for the strip, `storyboardWidth` for the sheets).
 */
export function checkStillSize(
  format: StillFormat,
  size: { width: number; height: number },
  what: string,
  field: string,
  remedy = 'use fewer columns or rows, or smaller tiles',
) {
  const picture = `${what} of ${size.width}x${size.height}`;
  if (format === 'webp' && (size.width > WEBP_MAX_SIDE || size.height > WEBP_MAX_SIDE)) {
    throw new ThumbnailerError(
      'E_OPTION_INVALID',
      `Invalid option: format webp cannot hold the ${picture} (WebP allows ${WEBP_MAX_SIDE} px a side): ${remedy}, or format jpg`,
      { field: 'format' },
    );
  }
  if (size.width > JPEG_MAX_SIDE || size.height > JPEG_MAX_SIDE || !fitsFfmpegFrame(size)) {
    throw new ThumbnailerError(
      'E_OPTION_INVALID',
      `Invalid option: the ${picture} is larger than a picture can be made (at most ${JPEG_MAX_SIDE} px a side and about 268 million pixels): ${remedy}`,
      { field },
    );
  }
}
