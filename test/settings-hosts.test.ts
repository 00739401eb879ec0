import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import type { InvocationContext } from '@azure/functions';
import { devConnectionString, loadSettings } from '../src/config.js';
import { createStorage } from '../src/adapters/storage.js';
import { DEFAULT_LIMITS, type Limits } from '../src/engine/options.js';
import { generate } from '../src/engine/generate.js';
import { invocationDeps, type FunctionsRuntime } from '../src/hosts/functions/runtime.js';
import type { JobDeps } from '../src/jobs/types.js';
import { createWorkerRuntime } from '../src/hosts/worker/runtime.js';
import { engineLimitsFrom } from '../src/jobs/limits.js';
import { media } from './support/media.js';
import { REPO_ROOT } from './support/media.js';
import { memoryLogger } from './support/worker.js';

/**
 * Every limit setting reaches the engine in every host (CLI `generate`, the worker, the Functions
 * host), with the value given: below the engine's default and above it alike.
 */

const run = promisify(execFile);
const cli = join(REPO_ROOT, 'src', 'hosts', 'cli', 'main.ts');
const connection = devConnectionString({ blob: 1, queue: 2, table: 3 });

/**
 * Each limit setting, its key in the engine's limits, and a value below and above its default
 * (the temporary disk a job may use is unbounded by default, but for the disk's free space).
 */
const LIMIT_SETTINGS: { env: string; key: keyof Limits; below?: number; above?: number }[] = [
  { env: 'THUMBNAILER_JOB_TIMEOUT_MS', key: 'jobTimeoutMs', below: 5_000, above: 2 * 3_600_000 },
  { env: 'THUMBNAILER_FFMPEG_TIMEOUT_MS', key: 'ffmpegTimeoutMs', below: 2_000, above: 3 * 3_600_000 },
  { env: 'THUMBNAILER_FFMPEG_STALL_MS', key: 'ffmpegStallTimeoutMs', below: 3_000, above: 900_000 },
  { env: 'THUMBNAILER_MAX_INPUT_BYTES', key: 'maxInputBytes', below: 1000, above: 200 * 1024 ** 3 },
  { env: 'THUMBNAILER_MAX_DURATION_SECONDS', key: 'maxDurationSeconds', below: 2, above: 7 * 24 * 3600 },
  { env: 'THUMBNAILER_MAX_PIXELS', key: 'maxPixels', below: 320 * 180, above: 16384 * 16384 },
  { env: 'THUMBNAILER_MAX_TEMP_BYTES', key: 'maxTempBytes', below: 1024 ** 2 },
  // The default is this machine's CPUs: one is below it unless the machine has a single CPU.
  {
    env: 'THUMBNAILER_FFMPEG_THREADS',
    key: 'ffmpegThreads',
    below: DEFAULT_LIMITS.ffmpegThreads > 1 ? 1 : undefined,
    above: 32,
  },
];

/** The engine limits each long-running host hands to `generate`, for one environment. */
async function hostLimits(env: NodeJS.ProcessEnv) {
  const settings = loadSettings({}, { AzureWebJobsStorage: connection, ...env });
  const storage = await createStorage(settings);
  const { logger } = memoryLogger();
  const worker = await createWorkerRuntime(settings, { logger, storage, ensure: false });
  const rt: FunctionsRuntime = {
    settings,
    storage,
    host: { maxDequeueCount: 5 },
    generate,
    logger,
  };
  const context = {
    invocationId: 'test',
    error() {},
    warn() {},
    info() {},
    debug() {},
    trace() {},
  } as unknown as InvocationContext;
  const functions = invocationDeps(rt, context);
  return { worker: worker.jobDeps, functions };
}

describe('limit settings reach the engine in the worker and the Functions host', () => {
  test('unset: the engine defaults', async () => {
    const { worker, functions } = await hostLimits({});
    assert.deepEqual(worker.limits, DEFAULT_LIMITS);
    assert.deepEqual(functions.limits, DEFAULT_LIMITS);
  });
  for (const s of LIMIT_SETTINGS) {
    for (const side of ['below', 'above'] as const) {
      const value = s[side];
      if (value === undefined) continue;
      test(`${s.env} ${side} its default (${value})`, async () => {
        assert.ok(side === 'below' ? value < DEFAULT_LIMITS[s.key] : value > DEFAULT_LIMITS[s.key]);
        const { worker, functions } = await hostLimits({ [s.env]: String(value) });
        assert.equal(worker.limits?.[s.key], value, 'worker');
        assert.equal(functions.limits?.[s.key], value, 'Functions host');
        // Nothing else moves.
        assert.deepEqual({ ...functions.limits, [s.key]: DEFAULT_LIMITS[s.key] }, DEFAULT_LIMITS);
      });
    }
  }

  /** The job handler's own settings: the same in both hosts, below and above their defaults. */
  const HANDLER_SETTINGS = [
    { env: 'THUMBNAILER_VISIBILITY_TIMEOUT', values: [10, 600], get: (d: JobDeps) => d.claimTtlMs / 1000 },
    { env: 'THUMBNAILER_RETRY_BASE_MS', values: [100, 10_000], get: (d: JobDeps) => d.retryBaseMs },
    { env: 'THUMBNAILER_RETRY_MAX_MS', values: [1000, 3_600_000], get: (d: JobDeps) => d.retryMaxMs },
  ];
  for (const s of HANDLER_SETTINGS) {
    test(`${s.env} below and above its default reaches the handler in both hosts`, async () => {
      for (const value of s.values) {
        const { worker, functions } = await hostLimits({ [s.env]: String(value) });
        assert.equal(s.get(worker), value, 'worker');
        assert.equal(s.get(functions), value, 'Functions host');
      }
    });
  }

  test('THUMBNAILER_MAX_DELIVERIES is the worker’s; the Functions host follows host.json', async () => {
    const { worker, functions } = await hostLimits({ THUMBNAILER_MAX_DELIVERIES: '9' });
    assert.equal(worker.maxDeliveries, 9);
    assert.equal(functions.maxDeliveries, 5, 'maxDequeueCount of host.json');
  });

  test('THUMBNAILER_TEMP_DIR reaches the handler in both hosts', async () => {
    const { worker, functions } = await hostLimits({ THUMBNAILER_TEMP_DIR: '/var/tmp' });
    assert.equal(worker.tempDir, '/var/tmp');
    assert.equal(functions.tempDir, '/var/tmp');
  });

  test('one derivation: what `generate` gets is engineLimitsFrom(settings)', () => {
    const settings = loadSettings({}, { THUMBNAILER_JOB_TIMEOUT_MS: String(2 * 3_600_000) });
    assert.equal(engineLimitsFrom(settings).jobTimeoutMs, 2 * 3_600_000);
  });
});

/** The CLI as a user runs it; never throws. */
async function thumbnailer(args: string[], env: NodeJS.ProcessEnv) {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', cli, ...args], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
      timeout: 120_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('limit settings take effect end to end in `thumbnailer generate`', () => {
  let work: string;
  let clip: string;
  let server: Server;
  let silentUrl: string;
  const held: import('node:http').ServerResponse[] = [];

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'thumbnailer-settings-'));
    clip = await media('h264');
    // A server that answers nothing: only a job time limit ends a job reading from it.
    server = createServer((_req, res) => held.push(res));
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    silentUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/video.mp4`;
  });
  after(async () => {
    for (const res of held) res.destroy();
    server.closeAllConnections();
    server.close();
    await rm(work, { recursive: true, force: true });
  });

  test('THUMBNAILER_JOB_TIMEOUT_MS below the default cuts the job at that time', async () => {
    const out = join(work, 'timeout');
    const result = await thumbnailer(['generate', silentUrl, '-o', out], {
      THUMBNAILER_JOB_TIMEOUT_MS: '1500',
    });
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /E_JOB_TIMEOUT: The job ran longer than 1\.5 s/);
    await assert.rejects(readdir(out), 'no output folder');
  });

  test('THUMBNAILER_MAX_INPUT_BYTES below the input size refuses it; above the default, it is made', async () => {
    const size = (await stat(clip)).size;
    const small = await thumbnailer(['generate', clip, '-o', join(work, 'small')], {
      THUMBNAILER_MAX_INPUT_BYTES: String(size - 1),
    });
    assert.equal(small.code, 1, small.stderr);
    assert.match(
      small.stderr,
      new RegExp(`E_LIMIT_EXCEEDED: The input is ${size} bytes, over the limit of ${size - 1}`),
    );
    await assert.rejects(readdir(join(work, 'small')));

    const large = await thumbnailer(['generate', clip, '-o', join(work, 'large'), '--outputs', 'poster'], {
      THUMBNAILER_MAX_INPUT_BYTES: String(100 * 1024 ** 3),
    });
    assert.equal(large.code, 0, large.stderr);
    assert.ok((await readdir(join(work, 'large'))).includes('poster.jpg'));
  });

  test('THUMBNAILER_MAX_DURATION_SECONDS and THUMBNAILER_MAX_PIXELS below the input refuse it', async () => {
    const long = await thumbnailer(['generate', clip, '-o', join(work, 'long')], {
      THUMBNAILER_MAX_DURATION_SECONDS: '5',
    });
    assert.match(long.stderr, /E_LIMIT_EXCEEDED: The video lasts 10 s, over the limit of 5 s/);
    const big = await thumbnailer(['generate', clip, '-o', join(work, 'big')], {
      THUMBNAILER_MAX_PIXELS: String(320 * 180 - 1),
    });
    assert.match(big.stderr, /E_LIMIT_EXCEEDED: The picture is 320x180/);
  });

  test('a bad limit setting is named', async () => {
    const result = await thumbnailer(['generate', clip, '-o', join(work, 'bad')], {
      THUMBNAILER_MAX_INPUT_BYTES: 'lots',
    });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /THUMBNAILER_MAX_INPUT_BYTES/);
  });
});
