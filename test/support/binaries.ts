/**
 * The ffmpeg and ffprobe the tests run, chosen as the product chooses them (src/engine/binaries.ts):
 * FFMPEG_PATH/FFPROBE_PATH, then the system's, then the static build of the optional npm packages.
 * Tests spawn these paths, never a bare `ffmpeg`, so that hiding the system's ffmpeg (or pointing
 * FFMPEG_PATH at the npm build) shows what a machine without it would see.
 */
import { realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resolveBinaries } from '../../src/engine/binaries.js';

const binaries = resolveBinaries();

export const FFMPEG = binaries.ffmpeg;
export const FFPROBE = binaries.ffprobe;

function npmPath(pkg: string): string | undefined {
  try {
    return realpathSync((createRequire(import.meta.url)(pkg) as { path: string }).path);
  } catch {
    return undefined;
  }
}

/**
 * True when the tests run on the npm-shipped static ffmpeg (a 2018 build) instead of a full one:
 * media.ts's skipWithout() then names the tests it cannot serve.
 */
export const BUNDLED_FFMPEG =
  binaries.source === 'npm' || realpathSync(FFMPEG) === npmPath('@ffmpeg-installer/ffmpeg');
