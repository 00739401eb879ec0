import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import {
  copyFile,
  mkdir,
  mkdtemp,
  open,
  readFile,
  readdir,
  rm,
  stat,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parseGenerateOptions } from '../src/engine/options.js';
import { ThumbnailerError } from '../src/errors.js';
import { DEFAULT_OUTPUT_FILES, ffprobe, media } from './support/media.js';

/** `thumbnailer generate` on folders and many inputs, and `--format webp`, run as a user runs it. */

const run = promisify(execFile);
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const cli = join(root, 'src', 'hosts', 'cli', 'main.ts');

async function thumbnailer(args: string[]) {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', cli, ...args], {
      cwd: root,
      maxBuffer: 1 << 24,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

let work: string;
let clip: string;
before(async () => {
  work = await mkdtemp(join(tmpdir(), 'thumbnailer-batch-'));
  clip = await media('h264');
});
after(() => rm(work, { recursive: true, force: true }));

async function manifestOf(dir: string) {
  return JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as {
    generatedAt: string;
    outputs: { file: string; contentType: string }[];
  };
}

async function firstBytes(path: string, n: number): Promise<Buffer> {
  const file = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(n);
    await file.read(buffer, 0, n, 0);
    return buffer;
  } finally {
    await file.close();
  }
}

describe('thumbnailer generate on a folder', () => {
  test('nested videos mirrored, a broken file named, non-zero exit; a second run skips what is current', async () => {
    const input = join(work, 'library');
    const out = join(work, 'thumbs');
    await mkdir(join(input, 'trips', '2024'), { recursive: true });
    await mkdir(join(input, '.cache'), { recursive: true });
    await copyFile(clip, join(input, 'intro.mp4'));
    await copyFile(clip, join(input, 'trips', 'beach.MOV'));
    await copyFile(clip, join(input, 'trips', '2024', 'hike.mkv'));
    await copyFile(clip, join(input, '.cache', 'hidden.mp4')); // hidden: not walked
    await copyFile(clip, join(input, 'trips', 'clip.bin')); // not a video extension: not walked
    await writeFile(join(input, 'trips', 'broken.mp4'), 'this is not a video');
    await writeFile(join(input, 'notes.txt'), 'notes');

    const first = await thumbnailer(['generate', input, '-o', out, '--recursive', '--concurrency', '2']);
    assert.equal(first.code, 1, first.stderr);
    assert.match(first.stderr, /trips\/broken\.mp4/);
    assert.match(first.stdout, /FAIL .*trips\/broken\.mp4: E_NOT_A_VIDEO/);
    assert.match(first.stdout, /4 videos: 3 made, 0 up to date, 1 failed/);
    const made = ['intro.mp4', 'trips/beach.MOV', 'trips/2024/hike.mkv'];
    for (const rel of made) {
      const files = (await readdir(join(out, rel))).sort();
      assert.deepEqual(files, DEFAULT_OUTPUT_FILES);
    }
    assert.deepEqual((await readdir(out)).sort(), ['intro.mp4', 'trips']);
    assert.deepEqual((await readdir(join(out, 'trips'))).sort(), ['2024', 'beach.MOV']);

    // Second run: nothing current is made again (manifests untouched), the broken file still named.
    const before = await Promise.all(made.map((rel) => manifestOf(join(out, rel))));
    const second = await thumbnailer(['generate', input, '-o', out, '--recursive']);
    assert.equal(second.code, 1);
    assert.match(second.stdout, /4 videos: 0 made, 3 up to date, 1 failed/);
    for (const [i, rel] of made.entries())
      assert.equal((await manifestOf(join(out, rel))).generatedAt, before[i]!.generatedAt, rel);

    // A changed file, or other options, are not current; a missing output makes its video stale.
    const future = new Date(Date.now() + 5000);
    await utimes(join(input, 'intro.mp4'), future, future);
    await rm(join(out, 'trips', 'beach.MOV', 'poster.jpg'));
    const third = await thumbnailer(['generate', input, '-o', out, '-r']);
    assert.match(third.stdout, /4 videos: 2 made, 1 up to date, 1 failed/);
    assert.notEqual((await manifestOf(join(out, 'intro.mp4'))).generatedAt, before[0]!.generatedAt);
    assert.notEqual((await manifestOf(join(out, 'trips/beach.MOV'))).generatedAt, before[1]!.generatedAt);
    assert.equal((await manifestOf(join(out, 'trips/2024/hike.mkv'))).generatedAt, before[2]!.generatedAt);
    await stat(join(out, 'trips', 'beach.MOV', 'poster.jpg'));
  });

  test('--format webp: strip, poster and sheets decode as WebP, and the VTT, JSON and manifest name them', async () => {
    const out = join(work, 'webp');
    const r = await thumbnailer(['generate', clip, '-o', out, '--format', 'webp']);
    assert.equal(r.code, 0, r.stderr);
    // One input keeps the single-video layout: outputs directly in -o.
    const files = (await readdir(out)).sort();
    assert.deepEqual(files, [
      'manifest.json',
      'poster.webp',
      'storyboard.json',
      'storyboard.vtt',
      'storyboard.webp',
      'strip.webp',
    ]);
    for (const file of ['strip.webp', 'poster.webp', 'storyboard.webp']) {
      const head = await firstBytes(join(out, file), 12);
      assert.equal(head.toString('latin1', 0, 4), 'RIFF', file);
      assert.equal(head.toString('latin1', 8, 12), 'WEBP', file);
      const probe = (await ffprobe(join(out, file), ['-show_entries', 'stream=codec_name,width'])) as {
        streams: { codec_name: string; width: number }[];
      };
      assert.equal(probe.streams[0]!.codec_name, 'webp', file);
      assert.ok(probe.streams[0]!.width > 0);
    }
    const vtt = await readFile(join(out, 'storyboard.vtt'), 'utf8');
    const cues = vtt.match(/^storyboard\.webp#xywh=\d+,\d+,\d+,\d+$/gm) ?? [];
    assert.ok(cues.length >= 10, vtt);
    assert.doesNotMatch(vtt, /\.jpg/);
    const json = JSON.parse(await readFile(join(out, 'storyboard.json'), 'utf8')) as {
      sheets: { file: string }[];
    };
    assert.deepEqual(
      json.sheets.map((s) => s.file),
      ['storyboard.webp'],
    );
    const manifest = await manifestOf(out);
    for (const o of manifest.outputs.filter((o) => /^(strip|poster|storyboard)\.webp$/.test(o.file)))
      assert.equal(o.contentType, 'image/webp');
    assert.equal(manifest.outputs.filter((o) => o.file.endsWith('.webp')).length, 3);

    // The same file again: up to date, nothing made.
    const again = await thumbnailer(['generate', clip, '-o', out, '--format', 'webp']);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /up to date/);
  });

  test('format is a job option: webp and jpg accepted, anything else refused by name', () => {
    assert.equal(parseGenerateOptions({}).format, 'jpg');
    assert.equal(parseGenerateOptions({ format: 'webp' }).format, 'webp');
    for (const bad of [{ format: 'png' }, { format: 'webp', cols: 20, width: 1920 }]) {
      assert.throws(
        () => parseGenerateOptions(bad),
        (e: unknown) => ThumbnailerError.is(e) && e.code === 'E_OPTION_INVALID' && /format/.test(e.message),
      );
    }
  });
});
