/**
 * Makes docs/images/dashboard.png: the dashboard on a private Azurite with real thumbnails (the
 * shared fixtures), a video open and its seek bar previewing a storyboard tile. Needs Chromium
 * (/usr/bin/chromium) and ffmpeg. Usage: node --import tsx scripts/dashboard-screenshot.ts
 */
import { readFile, rm } from 'node:fs/promises';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import { chromium } from 'playwright-core';
import { startAzurite } from '../test/support/azurite.js';
import { startApiService } from '../test/support/http.js';
import { ROOT, waitFor } from '../test/support/worker.js';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../test/support/chromium.js';

const FIXTURES = resolve(ROOT, '..', 'shared', 'fixtures');
const OUT = join(ROOT, 'docs', 'images', 'dashboard.png');

const azurite = await startAzurite();
const service = await startApiService(azurite.connectionString);
const profile = await mkdtemp(join(tmpdir(), 'thumbnailer-chromium-'));
try {
  for (const name of ['bbb-b.mp4', 'bbb-c.mp4', 'bbb-a.mp4']) {
    const body = new Uint8Array(await readFile(join(FIXTURES, name)));
    const res = await fetch(`${service.base}/api/videos?name=${name}`, { method: 'POST', body });
    const job = (await res.json()) as { id: string };
    await waitFor(`${name} done`, async () => {
      const j = (await (await fetch(`${service.base}/api/jobs/${job.id}`)).json()) as { status: string };
      return j.status === 'done';
    });
  }
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1280, height: 1080 },
    colorScheme: 'dark',
  });
  const page = await context.newPage();
  await page.goto(`${service.base}/#/video/bbb-a.mp4`);
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
  const r = spawnSync('ffmpeg', [
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
