import { resolveBinaries, type Binaries } from './binaries.js';
import { runTool } from './exec.js';

/** What the engine needs from ffmpeg, and why, so `doctor` can say what is missing and what breaks. */
export const REQUIRED = {
  filters: {
    select: 'frame selection',
    scale: 'resizing',
    tile: 'strips and storyboards',
    field: 'deinterlacing',
    transpose: 'rotated videos',
    setsar: 'non-square pixels',
    zscale: 'HDR tone mapping',
    tonemap: 'HDR tone mapping',
    palettegen: 'animated GIF previews',
    paletteuse: 'animated GIF previews',
  },
  decoders: { h264: 'H.264', hevc: 'HEVC', vp9: 'VP9', vp8: 'VP8', av1: 'AV1 (native or libdav1d)' },
  encoders: {
    mjpeg: 'JPEG outputs',
    libwebp_anim: 'animated WebP previews',
    gif: 'animated GIF previews',
    libx264: 'proxies of unusual codecs',
  },
  demuxers: { mov: 'MP4/MOV', matroska: 'Matroska/WebM and selection files', mpegts: 'MPEG-TS', avi: 'AVI' },
} as const;

export interface CapabilityReport {
  binaries: Binaries;
  ffmpegVersion: string;
  ffprobeVersion: string;
  missing: { kind: keyof typeof REQUIRED; name: string; why: string }[];
}

async function listNames(flag: string): Promise<Set<string>> {
  const { stdout } = await runTool('ffmpeg', ['-hide_banner', flag], {
    captureStdout: true,
    timeoutMs: 20_000,
  });
  const names = new Set<string>();
  for (const line of stdout.toString('utf8').split('\n')) {
    // Lines look like " T.. zscale  V->V  ..." or " V....D h264  ..." or " D  mov,mp4,m4a  ..."
    const match = /^\s*[A-Z.|]{1,8}\s+([\w,-]+)\s/.exec(line);
    if (match) for (const name of match[1]!.split(',')) names.add(name);
  }
  return names;
}

export async function checkCapabilities(): Promise<CapabilityReport> {
  const binaries = resolveBinaries();
  const version = async (tool: 'ffmpeg' | 'ffprobe') =>
    (await runTool(tool, ['-hide_banner', '-version'], { captureStdout: true, timeoutMs: 20_000 })).stdout
      .toString('utf8')
      .split('\n')[0]!
      .replace(/\s+Copyright.*$/, '');
  const [ffmpegVersion, ffprobeVersion, filters, decoders, encoders, demuxers] = await Promise.all([
    version('ffmpeg'),
    version('ffprobe'),
    listNames('-filters'),
    listNames('-decoders'),
    listNames('-encoders'),
    listNames('-demuxers'),
  ]);
  const have = { filters, decoders, encoders, demuxers };
  const missing: CapabilityReport['missing'] = [];
  for (const kind of Object.keys(REQUIRED) as (keyof typeof REQUIRED)[]) {
    for (const [name, why] of Object.entries(REQUIRED[kind])) {
      const present =
        have[kind].has(name) || (name === 'av1' && (decoders.has('libdav1d') || decoders.has('libaom-av1')));
      if (!present) missing.push({ kind, name, why });
    }
  }
  return { binaries, ffmpegVersion, ffprobeVersion, missing };
}
