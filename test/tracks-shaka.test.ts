/**
 * The storyboard's HLS image playlist and DASH thumbnail adaptation set, read by a real player:
 * Shaka Player (npm `shaka-player`) in Chromium (the system's, else the npm build; driven by
 * playwright-core). Each video is packaged at test time with ffmpeg as DASH and as HLS (H.264 in
 * fragmented MP4, which both Chromiums play through MSE), our adaptation set is merged into the
 * MPD and our image playlists into the multivariant playlist, everything is served over
 * 127.0.0.1, and `player.getThumbnails(track, t)` must give, at every cue's middle, its first
 * instant and the video's last moments, the sheet and tile rectangle our VTT gives for that `t`.
 *
 * Cases: the CC0 city footage (7.6 s: 10 tiles of 0.76 s, one sheet named without a number), a
 * 39.5 s clip in 4x4 sheets (three sheets, the last with two rows and a last tile of half a
 * second), the same clip with one tile per sheet (40 sheets), and two widths (160 and 320 px
 * tracks side by side).
 */
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { extname, join, normalize, sep } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { generate } from '../src/engine/generate.js';
import type { GenerateOptionsInput } from '../src/engine/options.js';
import type { Manifest } from '../src/engine/types.js';
import { CHROMIUM_ARGS, findChromium, type Chromium } from './support/chromium.js';
import { CITY, REPO_ROOT, ffmpeg, media } from './support/media.js';
import { cueAt, parseStoryboardVtt, type Cue } from './support/tracks.js';

const browserFound: Chromium | string = await findChromium().catch(
  (error: Error) => `no Chromium to drive: ${error.message}`,
);
const ARTIFACTS = join(REPO_ROOT, 'test-artifacts', 'tracks-shaka');
const SHAKA = join(
  createRequire(import.meta.url).resolve('shaka-player/package.json'),
  '..',
  'dist',
  'shaka-player.compiled.js',
);

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
  '.mpd': 'application/dash+xml',
  '.m3u8': 'application/vnd.apple.mpegurl',
  '.m4s': 'video/iso.segment',
  '.mp4': 'video/mp4',
  '.jpg': 'image/jpeg',
  '.webp': 'image/webp',
  '.vtt': 'text/vtt',
};

let server: Server;
let base: string;
let browser: Browser;

before(async () => {
  if (typeof browserFound === 'string') return;
  // Static files under test-artifacts/tracks-shaka, and Shaka itself.
  server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const file = path === '/shaka.js' ? SHAKA : normalize(join(ARTIFACTS, path));
    if (file !== SHAKA && !file.startsWith(ARTIFACTS + sep)) {
      res.writeHead(403).end();
      return;
    }
    readFile(file).then(
      (body) =>
        res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' }).end(body),
      () => res.writeHead(404).end(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  await mkdir(ARTIFACTS, { recursive: true });
  await writeFile(
    join(ARTIFACTS, 'player.html'),
    '<!doctype html><meta charset="utf-8"><video id="v" muted></video><script src="/shaka.js"></script>\n',
  );
  browser = await chromium.launch({
    executablePath: browserFound.executablePath,
    env: browserFound.env,
    headless: true,
    args: CHROMIUM_ARGS,
    timeout: 30_000,
  });
});

after(async () => {
  await browser?.close();
  await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
});

interface Packaged {
  /** Folder (under ARTIFACTS) with the video packaged both ways and our outputs beside. */
  dir: string;
  manifest: Manifest;
}

/** Our outputs with every track, and the video packaged as DASH and HLS in the same folder. */
async function packaged(name: string, video: string, options: GenerateOptionsInput): Promise<Packaged> {
  const dir = join(ARTIFACTS, name);
  const manifest = await generate({
    source: { kind: 'file', path: video },
    outDir: dir,
    options: { ...options, storyboardTracks: ['vtt', 'hls', 'dash'] },
  });
  const input = ['-i', video, '-map', '0:v:0', '-c', 'copy'];
  await ffmpeg([
    ...input,
    ...['-f', 'dash', '-seg_duration', '2', '-use_template', '1', '-use_timeline', '0'],
    join(dir, 'video.mpd'),
  ]);
  await ffmpeg([
    ...input,
    ...['-f', 'hls', '-hls_time', '2', '-hls_playlist_type', 'vod', '-hls_segment_type', 'fmp4'],
    ...['-hls_fmp4_init_filename', 'hls-init.mp4', '-hls_segment_filename', join(dir, 'hls-%d.m4s')],
    ...['-master_pl_name', 'master.m3u8'],
    join(dir, 'video.m3u8'),
  ]);
  return { dir, manifest };
}

const storyboards = (manifest: Manifest) =>
  manifest.outputs.filter((o) => o.kind === 'storyboard-hls').map((o) => o.storyboardWidth!);
const fileOf = (manifest: Manifest, kind: string, width: number) =>
  manifest.outputs.find((o) => o.kind === kind && o.storyboardWidth === width)!.file;

/** ffmpeg's MPD with our adaptation sets (one per width) added to its Period, as docs/outputs.md shows. */
async function mergeDash({ dir, manifest }: Packaged): Promise<string> {
  let mpd = await readFile(join(dir, 'video.mpd'), 'utf8');
  for (const width of storyboards(manifest)) {
    const ours = await readFile(join(dir, fileOf(manifest, 'storyboard-dash', width)), 'utf8');
    const set = /<AdaptationSet[\s\S]*?<\/AdaptationSet>/.exec(ours)![0];
    mpd = mpd.replace('</Period>', `${set}\n</Period>`);
  }
  await writeFile(join(dir, 'merged.mpd'), mpd);
  return 'merged.mpd';
}

/** ffmpeg's multivariant playlist with one `#EXT-X-IMAGE-STREAM-INF` per width, as docs/outputs.md shows. */
async function mergeHls({ dir, manifest }: Packaged): Promise<string> {
  let master = await readFile(join(dir, 'master.m3u8'), 'utf8');
  for (const width of storyboards(manifest)) {
    const playlist = manifest.outputs.find(
      (o) => o.kind === 'storyboard-hls' && o.storyboardWidth === width,
    )!;
    // RESOLUTION is one tile's size (Shaka multiplies it by the first sheet's LAYOUT).
    const json = JSON.parse(
      await readFile(join(dir, fileOf(manifest, 'storyboard-json', width)), 'utf8'),
    ) as {
      tileWidth: number;
      tileHeight: number;
    };
    master +=
      `#EXT-X-IMAGE-STREAM-INF:BANDWIDTH=${playlist.bandwidth},RESOLUTION=${json.tileWidth}x${json.tileHeight},` +
      `CODECS="jpeg",URI="${playlist.file}"\n`;
  }
  await writeFile(join(dir, 'merged.m3u8'), master);
  return 'merged.m3u8';
}

interface Thumbnail {
  uri: string;
  positionX: number;
  positionY: number;
  width: number;
  height: number;
}

interface PlayerAnswer {
  tracks: { id: number; width: number; height: number }[];
  /** Per track, per time asked. */
  thumbnails: (Thumbnail | null)[][];
  errors: string[];
}

/** Loads `url` in Shaka and asks every image track for the thumbnail at each of `times`. */
async function askShaka(page: Page, url: string, times: number[]): Promise<PlayerAnswer> {
  await page.goto(`${base}/player.html`);
  return (await page.evaluate(`(async () => {
    const errors = [];
    shaka.polyfill.installAll();
    const player = new shaka.Player();
    player.addEventListener('error', (e) => errors.push(String(e.detail && e.detail.code)));
    await player.attach(document.getElementById('v'));
    try {
      await player.load(${JSON.stringify(url)});
    } catch (e) {
      return { tracks: [], thumbnails: [], errors: ['load: ' + (e.code || e.message)] };
    }
    const tracks = player.getImageTracks().map((t) => ({ id: t.id, width: t.width, height: t.height }));
    const thumbnails = [];
    for (const track of tracks) {
      const row = [];
      for (const t of ${JSON.stringify(times)}) {
        const th = await player.getThumbnails(track.id, t);
        row.push(th && { uri: th.uris[0], positionX: th.positionX, positionY: th.positionY, width: th.width, height: th.height });
      }
      thumbnails.push(row);
    }
    await player.destroy();
    return { tracks, thumbnails, errors };
  })()`)) as PlayerAnswer;
}

/** Times to ask about: every cue's middle and first instant, and the video's last moments. */
function timesOf(cues: Cue[], duration: number): number[] {
  const times = cues.flatMap((c) => [
    round(c.start + 0.001),
    round((c.start + Math.min(c.end, duration)) / 2),
  ]);
  return [0, ...times, round(duration - 0.01)];
}
const round = (t: number) => Math.round(t * 1000) / 1000;

/** Every image track gives, at every time, the sheet and rectangle of its width's VTT. */
async function checkBothWays(name: string, pack: Packaged): Promise<void> {
  const widths = storyboards(pack.manifest);
  const cuesOf = await Promise.all(
    widths.map(async (w) =>
      parseStoryboardVtt(await readFile(join(pack.dir, fileOf(pack.manifest, 'storyboard-vtt', w)), 'utf8')),
    ),
  );
  // The packaged presentation may end a frame early (ffmpeg writes 39.5 s for 39.52): ask within it.
  const mpd = await readFile(join(pack.dir, 'video.mpd'), 'utf8');
  const packagedDuration = Number(/mediaPresentationDuration="PT([\d.]+)S"/.exec(mpd)![1]);
  const times = timesOf(cuesOf[0]!, Math.min(pack.manifest.input.duration, packagedDuration));
  const page = await browser.newPage();
  try {
    for (const [how, file] of [
      ['DASH', await mergeDash(pack)],
      ['HLS', await mergeHls(pack)],
    ] as const) {
      const answer = await askShaka(page, `${base}/${name}/${file}`, times);
      assert.deepEqual(answer.errors, [], `${how}: player errors`);
      assert.equal(
        answer.tracks.length,
        widths.length,
        `${how}: image tracks ${JSON.stringify(answer.tracks)}`,
      );
      // Tracks come in the order of the MPD / playlist: the widths in order.
      answer.thumbnails.forEach((row, track) => {
        const cues = cuesOf[track]!;
        row.forEach((thumbnail, i) => {
          const t = times[i]!;
          const cue = cueAt(cues, t);
          const where = `${how} ${widths[track]} px track at ${t} s`;
          assert.ok(thumbnail, `${where}: no thumbnail`);
          assert.equal(new URL(thumbnail.uri).pathname, `/${name}/${cue.file}`, `${where}: sheet`);
          assert.deepEqual(
            [thumbnail.positionX, thumbnail.positionY, thumbnail.width, thumbnail.height].map(Math.round),
            [cue.x, cue.y, cue.w, cue.h],
            `${where}: tile (VTT cue ${cue.start}..${cue.end})`,
          );
        });
      });
    }
  } finally {
    await page.close();
  }
}

describe(
  'storyboard tracks in Shaka Player',
  { skip: typeof browserFound === 'string' ? browserFound : false },
  () => {
    test('city-cc0.mp4: one sheet named without a number, 10 tiles of duration / 10', async () => {
      const pack = await packaged('city', CITY, { outputs: ['storyboard'] });
      const sheets = pack.manifest.outputs.filter((o) => o.kind === 'storyboard');
      assert.deepEqual(
        sheets.map((s) => s.file),
        ['storyboard.jpg'],
      );
      await checkBothWays('city', pack);
    });

    test('39.5 s in 4x4 sheets: three sheets, the last one shorter, the last tile half a second', async () => {
      const pack = await packaged('clock40', await media('clock40'), {
        outputs: ['storyboard'],
        storyboardInterval: 1,
        storyboardGrid: 4,
      });
      const sheets = pack.manifest.outputs.filter((o) => o.kind === 'storyboard');
      assert.deepEqual(
        sheets.map((s) => [s.file, s.tiles, s.height]),
        [
          ['storyboard-0.jpg', 16, 360],
          ['storyboard-1.jpg', 16, 360],
          ['storyboard-2.jpg', 8, 180],
        ],
      );
      await checkBothWays('clock40', pack);
    });

    test('one tile a sheet: 40 sheets', async () => {
      const pack = await packaged('clock40-single', await media('clock40'), {
        outputs: ['storyboard'],
        storyboardInterval: 1,
        storyboardGrid: 1,
      });
      assert.equal(pack.manifest.outputs.filter((o) => o.kind === 'storyboard').length, 40);
      await checkBothWays('clock40-single', pack);
    });

    test('two widths, 160 and 320 px: two image tracks, each pointing into its own sheets', async () => {
      const pack = await packaged('clock40-hidpi', await media('clock40'), {
        outputs: ['storyboard'],
        storyboardInterval: 1,
        storyboardGrid: 4,
        storyboardWidths: [160, 320],
      });
      assert.deepEqual(storyboards(pack.manifest), [160, 320]);
      await checkBothWays('clock40-hidpi', pack);
    });
  },
);
