import { accessSync, chmodSync, constants, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, join } from 'node:path';
import { ThumbnailerError } from '../errors.js';

export type BinarySource = 'env' | 'system' | 'npm';

export interface Binaries {
  ffmpeg: string;
  ffprobe: string;
  source: BinarySource;
}

const MISSING_HINT =
  'ffmpeg and ffprobe were not found. Install them (Debian/Ubuntu: `apt-get install ffmpeg`; macOS: `brew install ffmpeg`), ' +
  'or set FFMPEG_PATH and FFPROBE_PATH to their full paths, or reinstall without --omit=optional so the bundled fallback is present.';

function isExecutable(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/**
 * The npm fallback ships the binary inside the package. npm may have skipped its postinstall
 * (`chmod u+x`), so make it executable ourselves when we own it.
 */
function npmBinary(pkg: string): string | undefined {
  try {
    const require = createRequire(import.meta.url);
    const path = (require(pkg) as { path: string }).path;
    if (!isExecutable(path)) chmodSync(path, 0o755);
    return isExecutable(path) ? path : undefined;
  } catch {
    return undefined;
  }
}

let cached: Binaries | undefined;

/**
 * FFMPEG_PATH/FFPROBE_PATH first, then the system's ffmpeg, then the static build an optional npm
 * dependency carries. Container images install ffmpeg from the OS and omit optional packages, so
 * they never reach the fallback.
 */
export function resolveBinaries(env: NodeJS.ProcessEnv = process.env): Binaries {
  if (cached && env === process.env) return cached;
  let result: Binaries | undefined;
  if (env.FFMPEG_PATH || env.FFPROBE_PATH) {
    const ffmpeg = env.FFMPEG_PATH ?? onPath('ffmpeg');
    const ffprobe = env.FFPROBE_PATH ?? onPath('ffprobe');
    for (const [name, path] of [
      ['FFMPEG_PATH', ffmpeg],
      ['FFPROBE_PATH', ffprobe],
    ] as const) {
      if (!path || !isExecutable(path)) {
        throw new ThumbnailerError(
          'E_FFMPEG_MISSING',
          `${name} points to ${path ?? 'nothing'}, which is not an executable file. ${MISSING_HINT}`,
        );
      }
    }
    result = { ffmpeg: ffmpeg!, ffprobe: ffprobe!, source: 'env' };
  } else {
    const ffmpeg = onPath('ffmpeg');
    const ffprobe = onPath('ffprobe');
    if (ffmpeg && ffprobe) {
      result = { ffmpeg, ffprobe, source: 'system' };
    } else if (env.THUMBNAILER_NO_NPM_FFMPEG !== '1') {
      const npmFfmpeg = npmBinary('@ffmpeg-installer/ffmpeg');
      const npmFfprobe = npmBinary('@ffprobe-installer/ffprobe');
      if (npmFfmpeg && npmFfprobe) result = { ffmpeg: npmFfmpeg, ffprobe: npmFfprobe, source: 'npm' };
    }
  }
  if (!result) throw new ThumbnailerError('E_FFMPEG_MISSING', MISSING_HINT);
  if (env === process.env) cached = result;
  return result;
}
