import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rename } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Writable } from 'node:stream';
import { loadSettings, type Settings, type SettingsOverrides } from '../../src/config.js';
import { createLogger, type Logger } from '../../src/hosts/worker/logger.js';
import { FFMPEG } from './binaries.js';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CACHE = join(ROOT, '.cache', 'media');

/** Settings for a test: nothing from the real environment leaks in. */
export function testSettings(connectionString: string, overrides: SettingsOverrides = {}): Settings {
  return loadSettings(
    {
      connectionString,
      ...overrides,
      worker: {
        concurrency: 2,
        visibilityTimeoutSeconds: 10,
        pollIntervalMs: 100,
        retryBaseMs: 0,
        retryMaxMs: 0,
        shutdownGraceMs: 2000,
        ...overrides.worker,
      },
    },
    {},
  );
}

/** A logger collecting lines in memory (printed with THUMBNAILER_TEST_LOGS=1). */
export function memoryLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString('utf8').split('\n')) {
        if (!l) continue;
        lines.push(JSON.parse(l) as Record<string, unknown>);
        if (process.env.THUMBNAILER_TEST_LOGS) process.stderr.write(l + '\n');
      }
      cb();
    },
  });
  return { logger: createLogger({ level: 'debug', destination }), lines };
}

export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 60_000,
  intervalMs = 150,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(
    `timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`,
  );
}

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolvePromise() : reject(new Error(`${cmd} failed: ${stderr.slice(-500)}`)),
    );
  });
}

/**
 * A longer video (H.264, 25 fps, a keyframe every `gop` frames) made once with ffmpeg's lavfi and cached
 * under .cache/media, for jobs that must still be running when a test kills their worker.
 */
export async function longVideo(seconds = 60, size = '640x360', gop = 50): Promise<string> {
  const path = join(CACHE, `worker-long-${seconds}s-${size}-g${gop}.mp4`);
  if (existsSync(path)) return path;
  await mkdir(CACHE, { recursive: true });
  const tmp = `${path}.${process.pid}.tmp.mp4`;
  await run(FFMPEG, [
    '-hide_banner',
    '-loglevel',
    'error',
    '-y',
    '-f',
    'lavfi',
    '-i',
    `testsrc2=size=${size}:rate=25:duration=${seconds}`,
    '-c:v',
    'libx264',
    '-preset',
    'ultrafast',
    '-g',
    String(gop),
    '-pix_fmt',
    'yuv420p',
    tmp,
  ]);
  await rename(tmp, path);
  return path;
}
