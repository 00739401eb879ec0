import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm, symlink, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { BUNDLED_FFMPEG } from './support/binaries.js';
import { DEFAULT_OUTPUT_FILES, media } from './support/media.js';

const run = promisify(execFile);
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const cli = join(root, 'src', 'hosts', 'cli', 'main.ts');

let work: string;
let nodeOnlyPath: string;

/** The environment of a machine without the system's ffmpeg: PATH has node only, no override. */
function withoutSystemFfmpeg(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: nodeOnlyPath, ...extra };
  delete env.FFMPEG_PATH;
  delete env.FFPROBE_PATH;
  return env;
}

/** Runs the CLI as a user would; never throws, returns exit code and output. */
async function thumbnailer(args: string[], env: NodeJS.ProcessEnv = process.env) {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', cli, ...args], {
      cwd: root,
      env,
      maxBuffer: 1 << 24,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'thumbnailer-cli-'));
  // A PATH with node but without the system's ffmpeg: the machine "without ffmpeg".
  nodeOnlyPath = join(work, 'bin');
  await mkdir(nodeOnlyPath);
  await symlink(process.execPath, join(nodeOnlyPath, 'node'));
});
after(() => rm(work, { recursive: true, force: true }));

describe('thumbnailer generate', () => {
  test('makes every default output of a fixture and prints the manifest with --json', async () => {
    const out = join(work, 'a');
    const { code, stdout, stderr } = await thumbnailer([
      'generate',
      await media('cityA'),
      '-o',
      out,
      '--json',
    ]);
    assert.equal(code, 0, stderr);
    const manifest = JSON.parse(stdout);
    assert.equal(manifest.input.width, 640);
    assert.deepEqual((await readdir(out)).sort(), DEFAULT_OUTPUT_FILES);
  });

  test('a bad option is refused before any work, naming the flag', async () => {
    const out = join(work, 'bad');
    const { code, stderr } = await thumbnailer([
      'generate',
      await media('cityA'),
      '-o',
      out,
      '--mode',
      'slow',
    ]);
    assert.equal(code, 2);
    assert.match(stderr, /E_OPTION_INVALID.*--mode/);
    await assert.rejects(readdir(out));
  });

  test('the track flags: storyboard widths and tracks, BIF, poster time; bad values name their flag', async () => {
    const out = join(work, 'tracks');
    const video = await media('cityA');
    const { code, stdout, stderr } = await thumbnailer([
      ...['generate', video, '-o', out, '--json'],
      ...['--outputs', 'poster,storyboard,bif', '--storyboard-widths', '160, 320'],
      ...['--storyboard-tracks', 'vtt,hls,dash', '--bif-interval', '2', '--bif-width', '240'],
      ...['--poster-time', '1.5'],
    ]);
    assert.equal(code, 0, stderr);
    const manifest = JSON.parse(stdout) as {
      options: Record<string, unknown>;
      outputs: { kind: string; file: string; times?: number[]; width?: number }[];
    };
    assert.deepEqual(manifest.options.storyboardWidths, [160, 320]);
    assert.deepEqual(manifest.options.storyboardTracks, ['vtt', 'hls', 'dash']);
    assert.equal(manifest.options.posterTime, 1.5);
    const poster = manifest.outputs.find((o) => o.kind === 'poster')!;
    assert.ok(Math.abs(poster.times![0]! - 1.5) <= 1, `poster from ${poster.times![0]} s`);
    assert.equal(manifest.outputs.find((o) => o.kind === 'bif')!.width, 240);
    assert.deepEqual((await readdir(out)).sort(), [
      'manifest.json',
      'poster.jpg',
      'preview.bif',
      'storyboard-320w.jpg',
      'storyboard-320w.json',
      'storyboard-320w.m3u8',
      'storyboard-320w.mpd',
      'storyboard-320w.vtt',
      'storyboard.jpg',
      'storyboard.json',
      'storyboard.m3u8',
      'storyboard.mpd',
      'storyboard.vtt',
    ]);

    for (const [flags, named] of [
      [['--bif-interval', '0.5'], /--bif-interval/],
      [['--bif-width', 'wide'], /--bif-width/],
      [['--storyboard-widths', '160,x'], /--storyboard-widths/],
      [['--storyboard-widths', '160,320', '--storyboard-width', '200'], /--storyboard-widths/],
      [['--storyboard-tracks', 'vtt,smil'], /--storyboard-tracks/],
      [['--poster-time', '-3'], /--poster-time/],
      [['--poster-time', 'Infinity'], /--poster-time/],
      [['--outputs', 'bif', '--format', 'webp'], /--format.*\bbif\b/],
    ] as const) {
      const bad = join(work, 'tracks-bad');
      const refused = await thumbnailer(['generate', video, '-o', bad, ...flags]);
      // 2 for a value the options refuse, 1 for one commander cannot read as a number.
      assert.ok(refused.code === 1 || refused.code === 2, `${flags.join(' ')}: ${refused.stderr}`);
      assert.match(refused.stderr, named, flags.join(' '));
      await assert.rejects(readdir(bad), `${flags.join(' ')}: nothing written`);
    }
  });

  test('a missing file is one line, no stack trace', async () => {
    const { code, stderr } = await thumbnailer([
      'generate',
      join(work, 'nope.mp4'),
      '-o',
      join(work, 'nope'),
    ]);
    assert.equal(code, 1);
    assert.equal(stderr.trim().split('\n').length, 1);
    assert.match(stderr, /E_INPUT_NOT_FOUND/);
  });

  test('works on a machine without a system ffmpeg, through the npm-shipped build', async () => {
    const out = join(work, 'npm');
    const { code, stdout, stderr } = await thumbnailer(
      ['generate', await media('cityB'), '-o', out, '--json'],
      withoutSystemFfmpeg(),
    );
    assert.equal(code, 0, stderr);
    const manifest = JSON.parse(stdout);
    assert.doesNotMatch(manifest.ffmpeg.version, /deb12/, 'the system ffmpeg must not be used here');
    assert.ok(manifest.outputs.find((o: { file: string }) => o.file === 'strip.jpg'));
  });

  test('without any ffmpeg: one clear sentence naming the fix, never "spawn ffprobe ENOENT"', async () => {
    const { code, stderr } = await thumbnailer(
      ['generate', await media('cityA'), '-o', join(work, 'none')],
      withoutSystemFfmpeg({ THUMBNAILER_NO_NPM_FFMPEG: '1' }),
    );
    assert.equal(code, 1);
    assert.equal(stderr.trim().split('\n').length, 1);
    assert.match(stderr, /E_FFMPEG_MISSING: .*apt-get install ffmpeg/);
    assert.doesNotMatch(stderr, /ENOENT|at .*\.ts:\d+/);
  });
});

describe('thumbnailer doctor', () => {
  test('reports the binaries, their versions and that every needed filter is there', async () => {
    const { code, stdout } = await thumbnailer(['doctor']);
    assert.equal(code, 0, stdout);
    // Where it comes from: the system's, or the npm build on a machine without one.
    const source = BUNDLED_FFMPEG ? '(env|npm)' : 'system';
    assert.match(stdout, new RegExp(`ok {3}ffmpeg .*\\(${source}\\): ffmpeg version`));
    assert.match(stdout, /every filter, decoder, encoder and demuxer/);
  });

  test('says which source it uses and what is missing', async () => {
    const { stdout } = await thumbnailer(['doctor'], withoutSystemFfmpeg());
    assert.match(stdout, /\(npm\)/);
    assert.match(stdout, /apt-get install ffmpeg/);
  });
});
