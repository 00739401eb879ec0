import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { startAzurite, type TestAzurite } from './support/azurite.js';
import { startApiService, type ApiService } from './support/http.js';
import { ROOT } from './support/worker.js';
import { CHROMIUM_ARGS, findChromium, type Chromium } from './support/chromium.js';
import { media } from './support/media.js';
import { parseStoryboardVtt as parseVtt } from './support/tracks.js';

/**
 * The dashboard in real Chromium (the system's, else the build inside @sparticuz/chromium; driven by
 * playwright-core): upload through the page, live progress, the strip, and storyboard previews on
 * the seek bar. Where no Chromium can run at all, the tests are skipped with the reason, and CI
 * (which installs Debian's) fails on any skip.
 */

/** Four seconds of the CC0 city footage, uploaded under this name. */
const UPLOAD_NAME = 'city.mp4';
const browser: Chromium | string = await findChromium().catch(
  (error: Error) => `no Chromium to drive: ${error.message}`,
);
const ARTIFACTS = join(ROOT, 'test-artifacts');

let azurite: TestAzurite;
let service: ApiService;
let base: string;
let context: BrowserContext;
let profile: string;
let upload: string;

before(async () => {
  if (typeof browser === 'string') return;
  // The page uploads a file under its own name: a copy of the clip named as the test expects.
  await mkdir(ARTIFACTS, { recursive: true });
  upload = join(ARTIFACTS, UPLOAD_NAME);
  await copyFile(await media('cityA'), upload);
  azurite = await startAzurite();
  service = await startApiService(azurite);
  // Chromium needs a real server.
  base = await service.listen();
  profile = await mkdtemp(join(tmpdir(), 'thumbnailer-chromium-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: browser.executablePath,
    env: browser.env,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1360, height: 1000 },
    colorScheme: 'dark',
    timeout: 30_000,
  });
});

after(async () => {
  await context?.close();
  await service?.close();
  await azurite?.stop();
  if (profile) await rm(profile, { recursive: true, force: true });
});

/** Console errors and uncaught exceptions of a page. */
function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => errors.push(`page: ${e.message}`));
  return errors;
}

describe('dashboard in Chromium', { skip: typeof browser === 'string' ? browser : false }, () => {
  test('upload with progress, live job, strip, and the right storyboard tile on hover and keys', async () => {
    const page = await context.newPage();
    page.setDefaultTimeout(60_000);
    const errors = watchErrors(page);
    await page.goto(base);
    await page.getByRole('heading', { name: 'Upload a video' }).waitFor();

    // Slow the upload down so its progress events are visible, and sample every bar each frame.
    const cdp = await context.newCDPSession(page);
    await cdp.send('Network.enable');
    await cdp.send('Network.emulateNetworkConditions', {
      offline: false,
      latency: 0,
      downloadThroughput: -1,
      uploadThroughput: 150 * 1024,
    });
    // A string, not a function: tsx would wrap named functions in a helper the page lacks.
    await page.evaluate(`(() => {
      window.samples = { upload: [], job: [] };
      const tick = () => {
        const up = document.querySelector('#uploads progress');
        const job = document.querySelector('#jobs progress');
        if (up && window.samples.upload.at(-1) !== up.value) window.samples.upload.push(up.value);
        if (job && window.samples.job.at(-1) !== job.value) window.samples.job.push(job.value);
        requestAnimationFrame(tick);
      };
      tick();
    })()`);

    await page.setInputFiles('#file', upload);
    await page.getByText('stored, job queued').waitFor();
    await cdp.send('Network.emulateNetworkConditions', {
      offline: false,
      latency: 0,
      downloadThroughput: -1,
      uploadThroughput: -1,
    });
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-upload.png') });

    // Done: the page opens the video by itself and the strip loads.
    await page.waitForURL(/#\/video\/city\.mp4$/);
    await page.waitForFunction(() => {
      const img = document.querySelector<HTMLImageElement>('#strip');
      return img !== null && img.complete && img.naturalWidth > 0;
    });
    const samples = await page.evaluate(
      () => (window as unknown as { samples: { upload: number[]; job: number[] } }).samples,
    );
    assert.ok(
      samples.upload.some((v) => v > 0 && v < 1),
      `upload progress moved: ${samples.upload.join(', ')}`,
    );
    assert.equal(samples.upload.at(-1), 1);
    for (let i = 1; i < samples.upload.length; i++) assert.ok(samples.upload[i]! >= samples.upload[i - 1]!);
    assert.ok(samples.job.length > 0, 'a job progress bar was shown');
    await page.locator('#jobs .badge.done').first().waitFor();
    assert.equal(await page.locator('#jobs .job').count(), 1);

    const stripSize = await page.$eval('#strip', (img) => [
      (img as HTMLImageElement).naturalWidth,
      (img as HTMLImageElement).naturalHeight,
    ]);
    assert.equal(stripSize[0], 6000, `10 tiles of 600 px: ${stripSize.join('x')}`);
    await page.waitForFunction(
      () => (document.querySelector<HTMLImageElement>('#poster')?.naturalWidth ?? 0) > 0,
    );
    assert.match((await page.locator('#facts').textContent()) ?? '', /h264/i);

    // The storyboard as the page reads it.
    const outputs = `${base}/api/videos/${UPLOAD_NAME}/outputs`;
    const cues = parseVtt(await (await fetch(`${outputs}/storyboard.vtt`)).text());
    const manifest = (await (await fetch(`${outputs}/manifest.json`)).json()) as {
      input: { duration: number };
    };
    const duration = manifest.input.duration;
    assert.ok(cues.length >= 10, `${cues.length} cues`);
    await page.locator('#seek-wrap[data-ready="true"]').waitFor();

    const seek = page.locator('#seek');
    const box = (await seek.boundingBox())!;
    const cueOf = (t: number) => cues.find((c) => t >= c.start && t < c.end) ?? cues.at(-1)!;
    for (const index of [2, 6, cues.length - 1]) {
      const cue = cues[index]!;
      const t = (cue.start + Math.min(cue.end, duration)) / 2;
      await page.mouse.move(box.x + (t / duration) * box.width, box.y + box.height / 2);
      const preview = page.locator('#preview-image');
      await preview.waitFor({ state: 'visible' });
      const shown = await preview.evaluate((el) => ({
        position: (el as HTMLElement).style.backgroundPosition,
        image: (el as HTMLElement).style.backgroundImage,
        width: (el as HTMLElement).style.width,
        time: Number((el as HTMLElement).dataset.time),
      }));
      assert.equal(cueOf(shown.time), cue, `hovered ${t.toFixed(2)} s, page computed ${shown.time}`);
      assert.equal(shown.position, `${-cue.x}px ${-cue.y}px`, `tile of cue ${index} at ${t.toFixed(2)} s`);
      assert.equal(shown.width, `${cue.w}px`);
      assert.match(shown.image, new RegExp(`/api/videos/city\\.mp4/outputs/${cue.file.replace('.', '\\.')}`));
      if (index === 6) await page.screenshot({ path: join(ARTIFACTS, 'dashboard-hover.png') });
    }
    await page.mouse.move(0, 0);

    // Keyboard: focus shows the preview at the current value; arrows move it.
    await seek.focus();
    for (let i = 0; i < 5; i++) await page.keyboard.press('ArrowRight');
    const byKeys = await page.evaluate(() => ({
      value: Number(document.querySelector<HTMLInputElement>('#seek')!.value),
      hidden: document.querySelector<HTMLElement>('#preview')!.hidden,
      position: document.querySelector<HTMLElement>('#preview-image')!.style.backgroundPosition,
    }));
    assert.equal(byKeys.hidden, false);
    assert.ok(byKeys.value > 0);
    const keyCue = cueOf(byKeys.value);
    assert.equal(byKeys.position, `${-keyCue.x}px ${-keyCue.y}px`);
    assert.match((await page.locator('#time').textContent()) ?? '', /^0:0\d \/ 0:04$/);

    // The player can seek: the source is served with ranges.
    await page.waitForFunction(() => document.querySelector<HTMLVideoElement>('#player')!.readyState >= 1);
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-video.png'), fullPage: true });

    assert.deepEqual(errors, [], errors.join('\n'));
    await page.close();
  });

  test('a page for an unknown video says so, without console errors', async () => {
    const page = await context.newPage();
    const errors = watchErrors(page);
    await page.goto(`${base}/#/video/${encodeURIComponent('nothing/here.mp4')}`);
    await page.getByText('No thumbnails yet').waitFor();
    assert.equal(await page.locator('#video-title').textContent(), 'nothing/here.mp4');
    // The manifest's 404 is the only failed request; Chromium logs it as a console error.
    assert.ok(
      errors.every((e) => /404/.test(e)),
      errors.join('\n'),
    );
    await page.close();
  });
});
