import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, existsSync, openSync } from 'node:fs';
import { mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Writable } from 'node:stream';
import type { Storage } from '../../src/adapters/storage.js';
import { ENV, loadSettings, type Settings, type SettingsOverrides } from '../../src/config.js';
import type { GenerateRequest, Manifest } from '../../src/engine/types.js';
import { createWorkerRuntime, type WorkerRuntime } from '../../src/hosts/worker/runtime.js';
import type { Worker } from '../../src/hosts/worker/worker.js';
import { createLogger, type Logger } from '../../src/logger.js';
import type { StorageNames, TestAzurite } from './azurite.js';
import { FFMPEG, FFPROBE } from './binaries.js';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CACHE = join(ROOT, '.cache', 'media');

/** Settings flags could give, plus the job table, which only tests name (to keep to their own). */
export type TestSettingsOverrides = SettingsOverrides & { jobsTable?: string };

/** Settings for a test: nothing from the real environment leaks in. */
export function testSettings(connectionString: string, overrides: TestSettingsOverrides = {}): Settings {
  const { jobsTable, ...flags } = overrides;
  const settings = loadSettings(
    {
      connectionString,
      ...flags,
      worker: {
        concurrency: 2,
        visibilityTimeoutSeconds: 10,
        pollIntervalMs: 100,
        retryBaseMs: 0,
        retryMaxMs: 0,
        shutdownGraceMs: 2000,
        ...flags.worker,
      },
    },
    {},
  );
  return jobsTable ? { ...settings, jobsTable } : settings;
}

export interface TestWorkerOptions {
  /** The engine (`generate` by default); every request it gets is kept in `generateCalls`. */
  engine?: (request: GenerateRequest) => Promise<Manifest>;
  /** Settings over the test defaults: fresh names and a temporary folder of its own come first. */
  settings?: TestSettingsOverrides;
  /** Where the worker reaches storage when not straight at the emulator (a fault proxy). */
  connectionString?: string;
  events?: Settings['events'];
  /** Start the receive loop now (default true). */
  start?: boolean;
}

export interface TestWorker {
  settings: Settings;
  storage: Storage;
  worker: Worker;
  runtime: WorkerRuntime;
  generateCalls: GenerateRequest[];
  /** Parent of the worker's job folders; removed by close(). */
  tempDir: string;
  /** Every log line, parsed. */
  lines: Record<string, unknown>[];
  close(graceMs?: number): Promise<void>;
}

/**
 * An in-process worker (the real Worker, job handler, adapters and, unless `engine` says
 * otherwise, engine) on names no other test uses, with its containers, queues and table created.
 */
export async function startTestWorker(
  azurite: TestAzurite,
  options: TestWorkerOptions = {},
): Promise<TestWorker> {
  const tempDir = await mkdtemp(join(tmpdir(), 'thumbnailer-test-worker-'));
  const settings = testSettings(options.connectionString ?? azurite.connectionString, {
    ...azurite.names('w'),
    ...options.settings,
    worker: { tempDir, ...options.settings?.worker },
  });
  if (options.events) settings.events = options.events;
  const { logger, lines } = memoryLogger();
  const generateCalls: GenerateRequest[] = [];
  const engine = options.engine ?? (await import('../../src/engine/generate.js')).generate;
  const runtime = await createWorkerRuntime(settings, {
    logger,
    generate: (request) => {
      generateCalls.push(request);
      return engine(request);
    },
  });
  if (options.start !== false) runtime.worker.start();
  return {
    settings,
    storage: runtime.storage,
    worker: runtime.worker,
    runtime,
    generateCalls,
    tempDir,
    lines,
    async close(graceMs = 1000) {
      try {
        await runtime.worker.close(graceMs);
      } finally {
        await rm(tempDir, { recursive: true, force: true });
      }
    },
  };
}

/**
 * The environment of a `thumbnailer worker` process on these names: its storage, quick polls and
 * retries, JSON logs, and a health server on a free port; `extra` adds or overrides variables.
 */
export function workerEnv(
  connectionString: string,
  names: Omit<StorageNames, 'jobsTable'>,
  extra: NodeJS.ProcessEnv = {},
): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    // The binaries the tests chose (FFMPEG_PATH, the system's, the npm fallback), so that a worker
    // process and the test comparing its outputs with a direct run use the same ffmpeg.
    FFMPEG_PATH: FFMPEG,
    FFPROBE_PATH: FFPROBE,
    [ENV.AzureWebJobsStorage]: connectionString,
    [ENV.VIDEOCONTAINER]: names.videoContainer,
    [ENV.THUMBNAILCONTAINER]: names.thumbnailContainer,
    [ENV.THUMBNAIL_QUEUE]: names.queueName,
    [ENV.THUMBNAILER_POLL_INTERVAL_MS]: '100',
    [ENV.THUMBNAILER_RETRY_BASE_MS]: '0',
    [ENV.THUMBNAILER_LOG_LEVEL]: 'info',
    [ENV.THUMBNAILER_PORT]: '0',
    ...extra,
  };
}

export interface WorkerProcess {
  child: ChildProcess;
  pid: number;
  /** What it wrote so far (empty when it writes to `logFile`). */
  output(): string;
  alive: boolean;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * A real `thumbnailer worker` process: the sources through tsx (test/support/worker-process.ts),
 * or with `built` the compiled CLI as production runs it (no TypeScript loader in the process, for
 * memory and start-up figures). Output is kept in memory, or appended to `logFile`.
 */
export function spawnWorker(options: {
  env: NodeJS.ProcessEnv;
  concurrency?: number;
  built?: boolean;
  logFile?: string;
}): WorkerProcess {
  const entry = options.built
    ? [join(ROOT, 'dist/hosts/cli/main.js')]
    : ['--import', 'tsx', join(ROOT, 'test/support/worker-process.ts')];
  const fd = options.logFile ? openSync(options.logFile, 'a') : undefined;
  const child = spawn(
    process.execPath,
    [...entry, 'worker', '--concurrency', String(options.concurrency ?? 1)],
    {
      cwd: ROOT,
      env: options.env,
      stdio: fd === undefined ? ['ignore', 'pipe', 'pipe'] : ['ignore', fd, fd],
    },
  );
  if (fd !== undefined) closeSync(fd);
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const proc: WorkerProcess = {
    child,
    pid: child.pid!,
    output: () => output,
    alive: true,
    exit: once(child, 'exit').then(([code, signal]) => {
      proc.alive = false;
      return { code: code as number | null, signal: signal as NodeJS.Signals | null };
    }),
  };
  return proc;
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
