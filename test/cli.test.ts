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
