import { mustRun } from './proc.js';

/** Pictures as ffmpeg decodes them: RGB24 rasters, plus the few measures the checks need. */

export interface Raster {
  width: number;
  height: number;
  /** RGB24, row after row. */
  data: Buffer;
}

export interface ImageInfo {
  width: number;
  height: number;
  codec: string;
}

export async function probeImage(path: string): Promise<ImageInfo> {
  const result = await mustRun(
    'ffprobe',
    [
      '-v',
      'error',
      '-select_streams',
      'v:0',
      '-show_entries',
      'stream=width,height,codec_name',
      '-of',
      'json',
      path,
    ],
    { captureStdout: true, timeoutMs: 60_000 },
  );
  const stream = (
    JSON.parse(result.stdout.toString()) as {
      streams?: { width: number; height: number; codec_name: string }[];
    }
  ).streams?.[0];
  if (!stream) throw new Error(`${path}: no picture in it`);
  return { width: stream.width, height: stream.height, codec: stream.codec_name };
}

function toRaster(data: Buffer, width: number, height: number, what: string): Raster {
  if (data.length !== width * height * 3) {
    throw new Error(`${what}: decoded ${data.length} bytes, expected ${width}x${height}x3`);
  }
  return { width, height, data };
}

/** Decodes an image file (or the first frame of anything ffmpeg reads) to RGB24. */
export async function decodeImage(path: string): Promise<Raster> {
  const info = await probeImage(path);
  const result = await mustRun(
    'ffmpeg',
    ['-v', 'error', '-i', path, '-frames:v', '1', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-'],
    { captureStdout: true, timeoutMs: 60_000 },
  );
  return toRaster(result.stdout, info.width, info.height, path);
}

/** The frame shown at `time` seconds (exact seek), scaled to `width` x `height`. */
export async function frameAt(video: string, time: number, width: number, height: number): Promise<Raster> {
  const result = await mustRun(
    'ffmpeg',
    [
      ...['-v', 'error', '-ss', time.toFixed(3), '-i', video, '-frames:v', '1'],
      ...['-vf', `scale=${width}:${height}:flags=bicubic`, '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-'],
    ],
    { captureStdout: true, timeoutMs: 120_000 },
  );
  return toRaster(result.stdout, width, height, `${video} at ${time} s`);
}

export function crop(image: Raster, x: number, y: number, width: number, height: number): Raster {
  if (x < 0 || y < 0 || x + width > image.width || y + height > image.height) {
    throw new Error(`crop ${width}x${height}+${x}+${y} is outside the ${image.width}x${image.height} image`);
  }
  const data = Buffer.alloc(width * height * 3);
  for (let row = 0; row < height; row++) {
    const from = ((y + row) * image.width + x) * 3;
    image.data.copy(data, row * width * 3, from, from + width * 3);
  }
  return { width, height, data };
}

/** Mean and standard deviation of the luma (BT.601 weights), 0..255. */
export function lumaStats(image: Raster): { mean: number; std: number } {
  const { data } = image;
  const n = image.width * image.height;
  let sum = 0;
  let sumSq = 0;
  for (let i = 0; i < data.length; i += 3) {
    const y = 0.299 * data[i]! + 0.587 * data[i + 1]! + 0.114 * data[i + 2]!;
    sum += y;
    sumSq += y * y;
  }
  const mean = sum / n;
  return { mean, std: Math.sqrt(Math.max(0, sumSq / n - mean * mean)) };
}

/** Averages `factor` x `factor` blocks: compares pictures, not JPEG noise. */
export function shrink(image: Raster, factor: number): Raster {
  const width = Math.floor(image.width / factor);
  const height = Math.floor(image.height / factor);
  const data = Buffer.alloc(width * height * 3);
  const area = factor * factor;
  for (let by = 0; by < height; by++) {
    for (let bx = 0; bx < width; bx++) {
      for (let c = 0; c < 3; c++) {
        let sum = 0;
        for (let dy = 0; dy < factor; dy++) {
          let i = ((by * factor + dy) * image.width + bx * factor) * 3 + c;
          for (let dx = 0; dx < factor; dx++, i += 3) sum += image.data[i]!;
        }
        data[(by * width + bx) * 3 + c] = Math.round(sum / area);
      }
    }
  }
  return { width, height, data };
}

/** Mean absolute difference per channel value, 0..255. */
export function difference(a: Raster, b: Raster): number {
  if (a.width !== b.width || a.height !== b.height) {
    throw new Error(`cannot compare ${a.width}x${a.height} with ${b.width}x${b.height}`);
  }
  let sum = 0;
  for (let i = 0; i < a.data.length; i++) sum += Math.abs(a.data[i]! - b.data[i]!);
  return sum / a.data.length;
}
