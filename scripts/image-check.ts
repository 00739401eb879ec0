/**
 * Checks a built worker image from inside, as a user would run it: with buildah (chroot isolation,
 * the host's network), the image's own entrypoint, user and environment. scripts/image-local.sh
 * runs it after the build; usage: node --import tsx scripts/image-check.ts <image>
 *
 * - the entrypoint answers --version, runs as uid 1000, and that user can write nowhere but the
 *   temporary folders; the npm packages are exactly the lockfile's production set;
 * - `generate` on test/fixtures/city-cc0.mp4, mounted in at check time, writes a strip, poster and
 *   storyboard that are checked as the tests check them (decoded sizes, tiles showing the frames of
 *   their times, a poster that is not black, VTT cues inside their sheet);
 * - `doctor` passes against an Azurite on the host, finding Debian's ffmpeg and ffprobe in /usr/bin;
 * - `worker --once` takes one queue message for an uploaded video and commits the same outputs and
 *   the manifest; the job record ends `done`, no message is left;
 * - the default command (the long-running worker) answers the image's HEALTHCHECK.
 * `generate` and the workers run with a read-only root filesystem and a bounded /tmp, as the
 * Kubernetes manifests run them (every top-level folder bound read-only onto itself, a tmpfs on
 * /tmp). Each check prints `ok ...`; the first failure prints one line `image-check: <what>: <why>`
 * and exits 1. The outputs are checked with the tests' helpers (test/support/images.ts) on the host.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TableClient } from '@azure/data-tables';
import { BlobServiceClient } from '@azure/storage-blob';
import { QueueServiceClient } from '@azure/storage-queue';
import { storyboardCues } from '../bench/lib/checks.js';
import { freePort, startEmulator, type Emulator } from '../src/adapters/emulator.js';
import {
  decodeGray,
  fingerprint,
  fingerprintDistance,
  frameShownAt,
  imageSize,
  meanOf,
  tilesOf,
  videoFingerprints,
  type FrameFingerprint,
  type Gray,
} from '../test/support/images.js';
import { CITY, DEFAULT_OUTPUT_FILES } from '../test/support/media.js';
import { ROOT } from '../test/support/worker.js';

const IMAGE = process.argv[2] ?? 'localhost/video-thumbnailer:test';
const APP = '/home/site/wwwroot';
/** Packages that must never reach the image (the compiler, the test tools, the npm ffmpeg). */
const NEVER_IN_IMAGE = [
  'typescript',
  'tsx',
  'eslint',
  'prettier',
  'azurite',
  'playwright-core',
  '@sparticuz/chromium',
  '@ffmpeg-installer/ffmpeg',
  '@ffprobe-installer/ffprobe',
];
/** The bounded /tmp of the runs (the Kubernetes manifests give the worker an emptyDir with a limit). */
const TMP_SIZE = '256m';
/** A tile shows the frame of its time when their fingerprints are this close (the engine tests' bound). */
const SAME_FRAME = 0.15;

class CheckFailed extends Error {}
const fail = (what: string, why: string): never => {
  throw new CheckFailed(`${what}: ${why}`);
};
let passed = 0;
const ok = (text: string) => {
  passed++;
  process.stdout.write(`ok   ${text}\n`);
};

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs buildah (never through a shell); resolves with what it printed, killing it after `timeoutMs`. */
function buildah(args: string[], timeoutMs = 120_000, signal?: AbortSignal): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn('buildah', args, { stdio: ['ignore', 'pipe', 'pipe'], signal });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    const timer = setTimeout(() => {
      stderr += `\n(killed after ${timeoutMs / 1000} s)`;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (error) => {
      if (!signal?.aborted) reject(error);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The last line a command printed, past buildah's own report of its exit status. */
const lastLine = (text: string) =>
  text
    .trim()
    .split('\n')
    .filter((l) => l.trim() && !/^(subprocess exited with status \d+|Error: exit status \d+)$/.test(l))
    .at(-1) ?? '(no output)';

interface RunOptions {
  env?: Record<string, string>;
  mounts?: string[];
  user?: string;
  timeoutMs?: number;
  /** Stops the command (buildah then kills it). */
  signal?: AbortSignal;
}

/** One command inside the image's working container, with the image's own user, env and workdir. */
function inImage(container: string, command: string[], options: RunOptions = {}): Promise<Result> {
  const args = ['run', '--isolation', 'chroot'];
  if (options.user) args.push('--user', options.user);
  for (const mount of options.mounts ?? []) args.push('--mount', mount);
  for (const [key, value] of Object.entries(options.env ?? {})) args.push('--env', `${key}=${value}`);
  return buildah([...args, container, '--', ...command], options.timeoutMs, options.signal);
}

/** As `inImage`, and the command must succeed: its stdout, else a failure naming `what`. */
async function mustRun(what: string, container: string, command: string[], options?: RunOptions) {
  const r = await inImage(container, command, options);
  if (r.code !== 0) fail(what, `exit ${r.code}: ${lastLine(r.stderr || r.stdout)}`);
  return r.stdout;
}

interface ImageConfig {
  User?: string;
  Entrypoint?: string[];
  Cmd?: string[];
  WorkingDir?: string;
  Env?: string[];
  Healthcheck?: { Test?: string[] };
}

async function imageConfig(): Promise<ImageConfig> {
  const r = await buildah(['inspect', '--type', 'image', IMAGE]);
  if (r.code !== 0) fail('the image', `${IMAGE} is not in buildah's storage: ${lastLine(r.stderr)}`);
  return (JSON.parse(r.stdout) as { Docker: { config: ImageConfig } }).Docker.config;
}

/**
 * Mounts that make the container's root read-only and its /tmp a bounded tmpfs: each top-level
 * folder of the image bound read-only onto itself. buildah run has no read-only root of its own;
 * the root folder itself and /run (where buildah writes its .containerenv into every run) stay
 * writable for root only, and uid 1000 may write there only in /run/lock (checkUser).
 */
async function readOnlyRoot(container: string): Promise<string[]> {
  const mounted = await buildah(['mount', container]);
  if (mounted.code !== 0) fail('read-only root', lastLine(mounted.stderr));
  const root = mounted.stdout.trim();
  const entries = await readdir(root, { withFileTypes: true });
  const folders = entries
    .filter((e) => e.isDirectory() && !['tmp', 'proc', 'sys', 'dev', 'run'].includes(e.name))
    .map((e) => e.name);
  return [
    ...folders.map((name) => `type=bind,src=${join(root, name)},dst=/${name},ro`),
    `type=tmpfs,destination=/tmp,tmpfs-size=${TMP_SIZE}`,
  ];
}

// ---- the outputs, checked as the tests check them ------------------------------------------------

interface Manifest {
  input: { duration: number; displayWidth: number; displayHeight: number };
  options: {
    cols: number;
    rows: number;
    width: number;
    padding: number;
    margin: number;
    posterWidth: number;
  };
  outputs: { kind: string; file: string; bytes: number; width?: number; height?: number; times?: number[] }[];
  ffmpeg?: { version?: string };
}

interface StoryboardJson {
  tiles: { file: string; x: number; y: number; width: number; height: number; time: number }[];
}

const near = (a: number, b: number, tolerance: number) => Math.abs(a - b) <= tolerance;

/** Each tile's fingerprint matches the video frame on screen at the time the manifest gives it. */
function tilesShowTheirTimes(
  what: string,
  prints: Float64Array[],
  times: number[],
  frames: FrameFingerprint[],
) {
  if (prints.length !== times.length) fail(what, `${prints.length} tiles but ${times.length} times`);
  prints.forEach((tile, i) => {
    const d = fingerprintDistance(tile, frameShownAt(frames, times[i]!).fingerprint);
    if (d > SAME_FRAME)
      fail(what, `tile ${i} does not show the frame of ${times[i]} s (distance ${d.toFixed(3)})`);
  });
}

async function checkOutputs(label: string, dir: string, frames: FrameFingerprint[]): Promise<Manifest> {
  const files = (await readdir(dir)).sort();
  if (files.join() !== DEFAULT_OUTPUT_FILES.join()) fail(label, `wrote ${files.join(', ') || 'nothing'}`);
  const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as Manifest;
  const { input, options: o } = manifest;
  const output = (file: string) =>
    manifest.outputs.find((x) => x.file === file) ?? fail(label, `the manifest does not list ${file}`);
  for (const file of ['strip.jpg', 'poster.jpg', 'storyboard.jpg']) {
    const size = await imageSize(join(dir, file));
    const listed = output(file);
    if (size.width !== listed.width || size.height !== listed.height)
      fail(
        label,
        `${file} decodes as ${size.width}x${size.height}, the manifest says ${listed.width}x${listed.height}`,
      );
  }
  const aspectHeight = (width: number) => (width * input.displayHeight) / input.displayWidth;

  // Strip: cols x rows tiles of the requested width at the display aspect ratio, each its own time.
  const strip = await decodeGray(join(dir, 'strip.jpg'));
  const tileH = (strip.height - 2 * o.margin - (o.rows - 1) * o.padding) / o.rows;
  if (strip.width !== o.cols * o.width + (o.cols - 1) * o.padding + 2 * o.margin)
    fail(label, `strip.jpg is ${strip.width} px wide for ${o.cols} tiles of ${o.width} px`);
  if (!Number.isInteger(tileH) || !near(tileH, aspectHeight(o.width), 2))
    fail(label, `strip.jpg tiles are ${tileH} px high, not ${aspectHeight(o.width)}`);
  const stripTiles = tilesOf(strip, o.cols, o.rows, o.width, tileH, o.padding, o.margin);
  tilesShowTheirTimes(
    `${label}: strip.jpg`,
    stripTiles.map((t) => t.fingerprint),
    output('strip.jpg').times ?? [],
    frames,
  );

  // Poster: the video's width (up to posterWidth) at its aspect ratio; a real frame, not black.
  const poster = await decodeGray(join(dir, 'poster.jpg'));
  const posterWidth = Math.min(o.posterWidth, input.displayWidth);
  if (poster.width !== posterWidth || !near(poster.height, aspectHeight(posterWidth), 2))
    fail(label, `poster.jpg is ${poster.width}x${poster.height}`);
  const luma = meanOf(poster);
  if (luma < 40) fail(label, `poster.jpg is nearly black (mean luma ${luma.toFixed(1)})`);
  tilesShowTheirTimes(
    `${label}: poster.jpg`,
    [fingerprint(poster)],
    output('poster.jpg').times ?? [],
    frames,
  );

  // Storyboard: cues from 0 to the end, one after another, each inside its sheet; the JSON agrees.
  const cues = storyboardCues(await readFile(join(dir, 'storyboard.vtt'), 'utf8'));
  if (typeof cues === 'string') return fail(label, `storyboard.vtt: ${cues}`);
  const sheet: Gray = await decodeGray(join(dir, 'storyboard.jpg'));
  if (cues.length < 10) fail(label, `storyboard.vtt has ${cues.length} cues, fewer than 10`);
  if (cues[0]!.start !== 0 || !near(cues.at(-1)!.end, input.duration, 0.05))
    fail(label, `storyboard.vtt covers ${cues[0]!.start}..${cues.at(-1)!.end} s of ${input.duration} s`);
  cues.forEach((c, i) => {
    if (c.end <= c.start || (i > 0 && c.start !== cues[i - 1]!.end))
      fail(label, `storyboard.vtt cue ${i} (${c.start}..${c.end} s) does not follow the one before`);
    if (c.file !== 'storyboard.jpg' || c.x + c.w > sheet.width || c.y + c.h > sheet.height)
      fail(
        label,
        `storyboard.vtt cue ${i} points outside the sheet: ${c.file}#xywh=${c.x},${c.y},${c.w},${c.h}`,
      );
  });
  const json = JSON.parse(await readFile(join(dir, 'storyboard.json'), 'utf8')) as StoryboardJson;
  const rects = (list: { file: string; x: number; y: number; w: number; h: number }[]) =>
    JSON.stringify(list.map((t) => [t.file, t.x, t.y, t.w, t.h]));
  if (rects(json.tiles.map((t) => ({ ...t, w: t.width, h: t.height }))) !== rects(cues))
    fail(label, 'storyboard.json and storyboard.vtt list different tiles');
  tilesShowTheirTimes(
    `${label}: storyboard.jpg`,
    cues.map((c) => fingerprint(sheet, { x: c.x, y: c.y, width: c.w, height: c.h })),
    json.tiles.map((t) => t.time),
    frames,
  );
  ok(
    `${label}: strip ${strip.width}x${strip.height} (${stripTiles.length} tiles), poster ${poster.width}x${poster.height} (mean luma ${luma.toFixed(0)}), ${cues.length} storyboard cues inside a ${sheet.width}x${sheet.height} sheet, every tile the frame of its time`,
  );
  return manifest;
}

// ---- the checks ----------------------------------------------------------------------------------

/** Every package folder under the image's node_modules, as package-lock.json names them. */
const LIST_PACKAGES = `
const { readdirSync, existsSync } = require('node:fs');
const found = [];
const walk = (dir) => {
  if (!existsSync(dir)) return;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (!e.isDirectory() || e.name.startsWith('.')) continue;
    if (e.name.startsWith('@')) { walk(dir + '/' + e.name); continue; }
    const path = dir + '/' + e.name;
    found.push(path);
    walk(path + '/node_modules');
  }
};
walk('node_modules');
console.log(JSON.stringify(found));`;

async function checkPackages(container: string): Promise<void> {
  const installed = JSON.parse(
    await mustRun('the packages', container, ['node', '-e', LIST_PACKAGES]),
  ) as string[];
  const lock = JSON.parse(await readFile(join(ROOT, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { dev?: boolean; optional?: boolean; devOptional?: boolean }>;
  };
  const production = new Set(
    Object.entries(lock.packages)
      .filter(([path, p]) => path && !p.dev && !p.optional && !p.devOptional)
      .map(([path]) => path),
  );
  const banned = NEVER_IN_IMAGE.filter((name) => installed.includes(`node_modules/${name}`));
  if (banned.length) fail('the packages', `the image carries ${banned.join(', ')}`);
  const extra = installed.filter((path) => !production.has(path));
  if (extra.length)
    fail('the packages', `not production dependencies in the lockfile: ${extra.slice(0, 5).join(', ')}`);
  const missing = [...production].filter((path) => !installed.includes(path));
  if (missing.length)
    fail('the packages', `production dependencies missing: ${missing.slice(0, 5).join(', ')}`);
  ok(
    `${installed.length} npm packages, exactly the lockfile's production set (no ${NEVER_IN_IMAGE.slice(0, 5).join(', ')}, ...)`,
  );
}

async function checkDoctor(
  container: string,
  entrypoint: string[],
  env: Record<string, string>,
): Promise<string> {
  const r = await inImage(container, [...entrypoint, 'doctor'], { env });
  const lines = r.stdout.trim().split('\n');
  const failed = lines.filter((l) => l.startsWith('FAIL'));
  if (r.code !== 0 || failed.length) fail('doctor', failed[0] ?? `exit ${r.code}: ${lastLine(r.stderr)}`);
  for (const tool of ['ffmpeg', 'ffprobe']) {
    const line = lines.find((l) => new RegExp(`^ok\\s+${tool}\\s`).test(l));
    if (!line?.includes(`/usr/bin/${tool} (system)`))
      fail('doctor', `${tool} is not the OS's /usr/bin/${tool}: ${line ?? 'not reported'}`);
    const owner = await mustRun(`${tool}'s package`, container, ['dpkg', '-S', `/usr/bin/${tool}`]);
    // Debian's ffmpeg package carries both.
    if (!owner.startsWith('ffmpeg: ')) fail(`${tool}'s package`, owner.trim());
  }
  ok(
    `doctor passes: ${lines.filter((l) => l.startsWith('ok')).length} checks, ffmpeg and ffprobe from Debian in /usr/bin`,
  );
  return lines.find((l) => /^ok\s+ffmpeg\s/.test(l))!;
}

async function checkUser(container: string, config: ImageConfig): Promise<void> {
  if (config.User !== '1000:1000') fail('the user', `the image's USER is ${config.User ?? 'unset (root)'}`);
  const id = (await mustRun('the user', container, ['id', '-u'])).trim();
  const gid = (await mustRun('the user', container, ['id', '-g'])).trim();
  if (id !== '1000' || gid !== '1000') fail('the user', `commands run as ${id}:${gid}`);
  // Writable for that user: only the sticky temporary folders, never the application or the OS.
  const writable = (
    await mustRun('the user', container, [
      'sh',
      '-c',
      'find / -xdev -writable -not -type l -prune 2>/dev/null || true',
    ])
  )
    .split('\n')
    .filter(Boolean)
    .filter((p) => !p.startsWith('/proc') && !p.startsWith('/dev'));
  const unexpected = writable.filter((p) => !['/tmp', '/var/tmp', '/run/lock'].includes(p));
  if (unexpected.length) fail('the user', `uid 1000 can write to ${unexpected.slice(0, 5).join(', ')}`);
  ok(`runs as uid 1000 (gid 1000), which can write only to ${writable.join(', ')}`);
}

async function checkReadOnly(container: string, mounts: string[]): Promise<void> {
  // The user runs with these mounts and writes to /tmp; even root cannot write elsewhere; and the
  // bound /tmp takes no more than its size.
  await mustRun('read-only root', container, ['sh', '-c', 'echo ok > /tmp/ok && cat /tmp/ok'], { mounts });
  const asRoot = await inImage(container, ['touch', `${APP}/dist/.written`], { mounts, user: '0:0' });
  if (asRoot.code === 0) fail('read-only root', `root could write to ${APP}`);
  if (!/touch: .*Read-only file system/.test(asRoot.stderr))
    fail('read-only root', `exit ${asRoot.code}: ${lastLine(asRoot.stderr || asRoot.stdout)}`);
  const fill = await inImage(container, ['sh', '-c', 'head -c 300000000 /dev/zero > /tmp/fill'], { mounts });
  if (fill.code === 0 || !/No space left/.test(fill.stderr))
    fail('bounded /tmp', `300 MB fit into /tmp (${TMP_SIZE}): ${lastLine(fill.stderr)}`);
  ok(
    `read-only root filesystem and a ${TMP_SIZE} /tmp, emulated with ${mounts.length - 1} read-only mounts and a tmpfs`,
  );
}

/** The image's default command (the long-running worker) answers the image's own HEALTHCHECK. */
async function checkHealthcheck(container: string, config: ImageConfig, options: RunOptions): Promise<void> {
  const command = [...(config.Entrypoint ?? []), ...(config.Cmd ?? [])];
  const probe = config.Healthcheck?.Test ?? [];
  if (probe[0] !== 'CMD' || probe.length < 2) fail('the HEALTHCHECK', JSON.stringify(probe));
  const stop = new AbortController();
  let exited: Result | undefined;
  const running = inImage(container, command, { ...options, signal: stop.signal, timeoutMs: 120_000 }).then(
    (r) => (exited = r),
  );
  let healthy: Result | undefined;
  try {
    for (let i = 0; i < 60 && healthy?.code !== 0 && !exited; i++) {
      healthy = await inImage(container, probe.slice(1), { env: options.env });
      if (healthy.code !== 0) await new Promise((r) => setTimeout(r, 1000));
    }
  } finally {
    stop.abort();
    await running;
  }
  if (healthy?.code !== 0)
    fail(
      'the HEALTHCHECK',
      exited && !stop.signal.aborted
        ? `\`${command.slice(2).join(' ')}\` exited: ${lastLine(exited.stderr || exited.stdout)}`
        : `never passed in 60 s: ${lastLine(healthy?.stderr || healthy?.stdout || '')}`,
    );
  ok(`the default command (\`${(config.Cmd ?? []).join(' ')}\`) answers the image's HEALTHCHECK`);
}

async function main(): Promise<void> {
  const started = Date.now();
  const config = await imageConfig();
  const entrypoint = config.Entrypoint ?? [];
  if (entrypoint.join(' ') !== `node ${APP}/dist/hosts/cli/main.js`)
    fail('the entrypoint', JSON.stringify(entrypoint));

  const from = await buildah(['from', '--pull-never', IMAGE]);
  if (from.code !== 0) fail('the image', lastLine(from.stderr));
  const container = from.stdout.trim();
  const scratch = await mkdtemp(join(tmpdir(), 'thumbnailer-image-check-'));
  let emulator: Emulator | undefined;
  try {
    const version = (JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string })
      .version;
    const answered = (await mustRun('--version', container, [...entrypoint, '--version'])).trim();
    if (answered !== version) fail('--version', `answered ${answered}, package.json says ${version}`);
    ok(`the entrypoint starts: --version answers ${answered}`);
    await checkUser(container, config);
    await checkPackages(container);
    const mounts = await readOnlyRoot(container);
    await checkReadOnly(container, mounts);
    const frames = await videoFingerprints(CITY);

    // generate: a video the image has never seen, mounted read-only; outputs into a host folder.
    const out = join(scratch, 'generate');
    await mkdir(out);
    await chmod(out, 0o777);
    await mustRun(
      'generate',
      container,
      [...entrypoint, 'generate', '/input/city-cc0.mp4', '-o', '/output'],
      {
        mounts: [
          ...mounts,
          `type=bind,src=${CITY},dst=/input/city-cc0.mp4,ro`,
          `type=bind,src=${out},dst=/output,rw`,
        ],
        timeoutMs: 300_000,
      },
    );
    await checkOutputs('generate', out, frames);

    // The worker against an Azurite on the host (loopback, telemetry off), storage made as a user
    // makes it (docs/azure.md), the video uploaded, then one queue message.
    emulator = await startEmulator({ ports: 'free', inMemory: true, startTimeoutMs: 30_000 });
    const cs = emulator.connectionString;
    const blobs = BlobServiceClient.fromConnectionString(cs);
    const queues = QueueServiceClient.fromConnectionString(cs);
    const jobs = TableClient.fromConnectionString(cs, 'thumbnailjobs', { allowInsecureConnection: true });
    for (const name of ['videos', 'thumbnails']) await blobs.getContainerClient(name).createIfNotExists();
    for (const name of ['thumbnail-requests', 'thumbnail-requests-poison'])
      await queues.getQueueClient(name).createIfNotExists();
    await jobs.createTable();
    const video = 'image-check/city-cc0.mp4';
    await blobs.getContainerClient('videos').getBlockBlobClient(video).uploadFile(CITY);
    const port = await freePort();
    const env = { AzureWebJobsStorage: cs, THUMBNAILER_HOST: '127.0.0.1', THUMBNAILER_PORT: String(port) };
    const ffmpegLine = await checkDoctor(container, entrypoint, env);

    // worker --once: the message is there when it starts; it takes it, finishes it and exits.
    const id = `image-check-${randomBytes(4).toString('hex')}`;
    await queues.getQueueClient('thumbnail-requests').sendMessage(JSON.stringify({ id, video }));
    const done = await inImage(container, [...entrypoint, 'worker', '--once', '--wait', '60'], {
      env,
      mounts,
      timeoutMs: 300_000,
    });
    if (done.code !== 0) fail('worker --once', `exit ${done.code}: ${lastLine(done.stderr || done.stdout)}`);

    const record = await jobs
      .getEntity<{ status?: string; error?: string }>('job', id)
      .catch(() => undefined);
    if (record?.status !== 'done')
      fail('worker --once', `job ${id} is ${record?.status ?? 'missing'} ${record?.error ?? ''}`.trim());
    const left = await queues.getQueueClient('thumbnail-requests').peekMessages({ numberOfMessages: 1 });
    const poisoned = await queues
      .getQueueClient('thumbnail-requests-poison')
      .peekMessages({ numberOfMessages: 1 });
    if (left.peekedMessageItems.length || poisoned.peekedMessageItems.length)
      fail('worker --once', 'a message is left on the queue or its poison queue');
    const committed = join(scratch, 'worker');
    await mkdir(committed);
    const thumbnails = blobs.getContainerClient('thumbnails');
    for await (const blob of thumbnails.listBlobsFlat({ prefix: `${video}/` })) {
      await thumbnails
        .getBlobClient(blob.name)
        .downloadToFile(join(committed, blob.name.slice(video.length + 1)));
    }
    const manifest = await checkOutputs('worker --once', committed, frames);
    const ffmpegVersion = /\d+\.\d+\S*/.exec(manifest.ffmpeg?.version ?? '')?.[0];
    if (!ffmpegVersion || !ffmpegLine.includes(ffmpegVersion))
      fail(
        'worker --once',
        `the manifest's ffmpeg (${manifest.ffmpeg?.version}) is not the one doctor found`,
      );
    ok(`worker --once: job ${id} done, manifest committed, queue empty, ffmpeg as doctor found it`);
    await checkHealthcheck(container, config, { env, mounts });
    const seconds = ((Date.now() - started) / 1000).toFixed(0);
    // The plain closing line that a CI log reader counts.
    process.stdout.write(
      `image-check: all checks passed in ${seconds} s\nimage-check: ${passed} passed, 0 failed\n`,
    );
  } finally {
    await emulator?.stop();
    await buildah(['rm', container]);
    await rm(scratch, { recursive: true, force: true });
  }
}

try {
  await main();
} catch (error) {
  const message = error instanceof CheckFailed ? error.message : `unexpected: ${String(error)}`;
  process.stderr.write(`image-check: ${message}\n`);
  process.exitCode = 1;
}
