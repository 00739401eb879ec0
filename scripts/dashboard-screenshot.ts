/**
 * Makes docs/images/dashboard.png: the dashboard on a private Azurite with real thumbnails (the CC0
 * city footage of test/fixtures and two clips cut from it), a video open and its seek bar
 * previewing a storyboard tile. Drives the Chromium of test/support/chromium.ts (the system's or
 * the npm build). Usage: node --import tsx scripts/dashboard-screenshot.ts
 */
import { readFile, rm } from 'node:fs/promises';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { chromium } from 'playwright-core';
import { ENV_DEFAULTS, JOBS_TABLE } from '../src/config.js';
import { startAzurite } from '../test/support/azurite.js';
import { startApiService } from '../test/support/http.js';
import { ROOT, waitFor } from '../test/support/worker.js';
import { FFMPEG } from '../test/support/binaries.js';
import { CHROMIUM_ARGS, findChromium } from '../test/support/chromium.js';
import { CITY, media } from '../test/support/media.js';

const OUT = join(ROOT, 'docs', 'images', 'dashboard.png');

const azurite = await startAzurite({ own: true });
// A private emulator: the product's own names, as a user sees them.
const service = await startApiService(azurite, {
  settings: {
    videoContainer: ENV_DEFAULTS.VIDEOCONTAINER,
    thumbnailContainer: ENV_DEFAULTS.THUMBNAILCONTAINER,
    queueName: ENV_DEFAULTS.THUMBNAIL_QUEUE,
    jobsTable: JOBS_TABLE,
  },
});
const base = await service.listen();
const profile = await mkdtemp(join(tmpdir(), 'thumbnailer-chromium-'));
try {
  const videos: [string, string][] = [
    ['clips/city-b.mp4', await media('cityB')],
    ['clips/city-c.mp4', await media('cityC')],
    ['city-cc0.mp4', CITY],
  ];
  for (const [name, path] of videos) {
    const body = new Uint8Array(await readFile(path));
    const res = await fetch(`${base}/api/videos?name=${encodeURIComponent(name)}`, {
      method: 'POST',
      body,
    });
    const job = (await res.json()) as { id: string };
    await waitFor(`${name} done`, async () => {
      const j = (await (await fetch(`${base}/api/jobs/${job.id}`)).json()) as { status: string };
      return j.status === 'done';
    });
  }
  const browser = await findChromium();
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: browser.executablePath,
    env: browser.env,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1280, height: 1080 },
    colorScheme: 'dark',
  });
  const page = await context.newPage();
  await page.goto(`${base}/#/video/city-cc0.mp4`);
  await page.locator('#seek-wrap[data-ready="true"]').waitFor();
  await page.waitForFunction(() =>
    ['#strip', '#poster'].every((s) => (document.querySelector<HTMLImageElement>(s)?.naturalWidth ?? 0) > 0),
  );
  const box = (await page.locator('#seek').boundingBox())!;
  await page.mouse.move(box.x + box.width * 0.62, box.y + box.height / 2);
  await page.waitForTimeout(300);
  const raw = join(profile, 'raw.png');
  await page.screenshot({ path: raw });
  await context.close();
  // A 256-colour palette keeps the PNG small enough for the README.
  const r = spawnSync(FFMPEG, [
    ...['-hide_banner', '-loglevel', 'error', '-y', '-i', raw],
    ...[
      '-vf',
      'split[a][b];[a]palettegen=max_colors=256:stats_mode=full[p];[b][p]paletteuse=dither=sierra2_4a',
    ],
    OUT,
  ]);
  if (r.status !== 0) throw new Error(r.stderr.toString());
  console.log(`wrote ${OUT}`);
} finally {
  await service.close();
  await azurite.stop();
  await rm(profile, { recursive: true, force: true });
}
