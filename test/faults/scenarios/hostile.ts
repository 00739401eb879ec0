import { readdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { media } from '../../support/media.js';
import {
  adminStorage,
  Check,
  namesFor,
  poisonMessages,
  readLog,
  startWorker,
  stopWorker,
  waitFor,
  type Rig,
} from '../harness.js';
import { bomb, clip } from '../media.js';
import type { ScenarioOutcome } from '../run.js';
import { leftovers } from './crash.js';

interface Case {
  name: string;
  /** The queue message as sent (plain text, not re-encoded). */
  body: string;
  /** Expected error code(s). */
  codes: string[];
}

/**
 * Hostile and broken input, interleaved with good jobs: each is refused or poisoned with a reason
 * on its first delivery; nothing is written outside `thumbs/<video>/`; the canary file's content
 * and the canary server never show up; the good jobs complete.
 */
export async function hostile(rig: Rig): Promise<ScenarioOutcome> {
  const check = new Check();
  const names = namesFor('hostile');
  const storage = await adminStorage(rig, names);
  const { canary } = rig;
  const canaryUrl = `http://127.0.0.1:${canary.port}`;
  const upload = (name: string, path: string) => storage.blobs.uploadFile(names.videoContainer, name, path);
  const uploadText = (name: string, text: string) =>
    storage.blobs.uploadText(names.videoContainer, name, text);
  const good = await clip(4, '320x180');
  const files: Record<string, string> = {
    random: await media('randomBytes'),
    empty: await media('empty'),
    truncated: await media('truncated'),
    bomb: await bomb(),
  };
  for (const [k, path] of Object.entries(files)) await upload(`h/${k}.mp4`, path);
  const hls = (uri: string) =>
    ['#EXTM3U', '#EXT-X-TARGETDURATION:6', '#EXTINF:6.0,', uri, '#EXT-X-ENDLIST', ''].join('\n');
  await uploadText('h/hls-file.mp4', hls(`file://${canary.file}`));
  await uploadText('h/hls-http.mp4', hls(`${canaryUrl}/hls-segment.ts`));
  await uploadText('h/concat-file.mp4', `ffconcat version 1.0\nfile '${canary.file}'\n`);
  await uploadText('h/concat-http.mp4', `ffconcat version 1.0\nfile '${canaryUrl}/concat.mp4'\n`);
  // A playlist behind a UTF-8 BOM and blank lines, still a playlist.
  await uploadText('h/hls-bom.mp4', `\uFEFF\n\n  ${hls(`${canaryUrl}/bom.ts`)}`);
  for (let i = 0; i < 4; i++) await upload(`h/good${i}.mp4`, good);

  const job = (id: string, video: string) =>
    JSON.stringify({ id, video, options: { outputs: ['strip', 'poster'] } });
  // The endpoint as the workers see it (through the proxy).
  const blobEndpoint = `http://127.0.0.1:${rig.proxies[0]!.port}/${rig.account.name}/`;
  const cases: Case[] = [
    { name: 'random bytes', body: job('h-random', 'h/random.mp4'), codes: ['E_NOT_A_VIDEO'] },
    { name: 'empty file', body: job('h-empty', 'h/empty.mp4'), codes: ['E_INPUT_EMPTY'] },
    {
      name: 'truncated MP4',
      body: job('h-truncated', 'h/truncated.mp4'),
      codes: ['E_CORRUPT_VIDEO', 'E_NOT_A_VIDEO', 'E_NO_VIDEO_STREAM'],
    },
    { name: 'HLS → local file', body: job('h-hls-file', 'h/hls-file.mp4'), codes: ['E_FORMAT_REFUSED'] },
    { name: 'HLS → loopback URL', body: job('h-hls-http', 'h/hls-http.mp4'), codes: ['E_FORMAT_REFUSED'] },
    { name: 'HLS behind BOM', body: job('h-hls-bom', 'h/hls-bom.mp4'), codes: ['E_FORMAT_REFUSED'] },
    {
      name: 'ffconcat → local file',
      body: job('h-concat-file', 'h/concat-file.mp4'),
      codes: ['E_FORMAT_REFUSED'],
    },
    {
      name: 'ffconcat → loopback URL',
      body: job('h-concat-http', 'h/concat-http.mp4'),
      codes: ['E_FORMAT_REFUSED'],
    },
    { name: '16000x16000 bomb', body: job('h-bomb', 'h/bomb.mp4'), codes: ['E_LIMIT_EXCEEDED'] },
    { name: 'name with ..', body: '../hostile-thumbs/escape.mp4', codes: ['E_MESSAGE_INVALID'] },
    { name: 'JSON name with ..', body: job('h-dotdot', 'h/../../escape.mp4'), codes: ['E_MESSAGE_INVALID'] },
    { name: 'control character', body: job('h-ctl', 'h/bad\u0007name.mp4'), codes: ['E_MESSAGE_INVALID'] },
    { name: 'newline in name', body: 'h/good0.mp4\n../../x', codes: ['E_MESSAGE_INVALID'] },
    {
      name: "another account's URL",
      body: `https://otheracct.blob.core.windows.net/${names.videoContainer}/h/good0.mp4`,
      codes: ['E_URL_REFUSED'],
    },
    {
      name: 'same path, canary host',
      body: `${canaryUrl}/${rig.account.name}/${names.videoContainer}/h/good0.mp4`,
      codes: ['E_URL_REFUSED'],
    },
    {
      name: 'our URL with a SAS, missing blob',
      body: `${blobEndpoint}${names.videoContainer}/h/missing.mp4?${rig.account.sas}`,
      codes: ['E_BLOB_NOT_FOUND'],
    },
    {
      name: 'invalid base64',
      body: 'eyJ2aWRlbyI6ICJoL2dvb2QwLm1wNCJ9!!',
      codes: ['E_BLOB_NOT_FOUND', 'E_MESSAGE_INVALID'],
    },
    {
      name: 'base64 of binary',
      body: Buffer.from([0xff, 0xfe, 0x00, 0x01, 0x80]).toString('base64'),
      codes: ['E_MESSAGE_INVALID', 'E_BLOB_NOT_FOUND'],
    },
    {
      name: '64 KiB message',
      body: JSON.stringify({ id: 'h-big', video: 'h/good0.mp4', pad: 'x'.repeat(64 * 1024 - 60) }),
      codes: ['E_MESSAGE_INVALID'],
    },
  ];

  const worker = await startWorker(rig, { names, id: 'hostile-w0', concurrency: 2, sas: true });
  let g = 0;
  const sent: Case[] = [];
  const refusedByQueue: string[] = [];
  for (const [i, c] of cases.entries()) {
    try {
      await storage.queue.send(c.body, { base64: false });
      sent.push(c);
    } catch (error) {
      // Over the queue's own size limit: refused before any worker sees it.
      refusedByQueue.push(`${c.name} (${(error as { code?: string }).code})`);
    }
    if (i % 5 === 0 && g < 4) await storage.queue.send(job(`h-good${g}`, `h/good${g++}.mp4`));
  }
  while (g < 4) await storage.queue.send(job(`h-good${g}`, `h/good${g++}.mp4`));

  const poison = await waitFor(
    `${sent.length} poison messages and the good jobs`,
    async () => {
      if ((await storage.queue.depth()) > 0) return false;
      const goods = await Promise.all([0, 1, 2, 3].map((i) => storage.jobs.get(`h-good${i}`)));
      if (!goods.every((j) => j?.status === 'done')) return false;
      const p = await poisonMessages(storage);
      return p.length >= sent.length && p;
    },
    60_000,
    500,
  );
  check.equal(await stopWorker(worker), 0, 'worker exit code');
  check.equal(poison.length, sent.length, 'poison messages');
  const outcomes: string[] = [];
  const unmatched = [...poison];
  for (const c of sent) {
    const id = /"id":"([^"]+)"/.exec(c.body)?.[1];
    // The queue service may normalise whitespace in a body; compare without it.
    const squash = (t: string) => t.replace(/\s/g, '').slice(0, 40);
    const i = unmatched.findIndex(
      (p) =>
        (id !== undefined && p.body?.jobId === id) ||
        squash(String(p.body?.message ?? '')) === squash(c.body),
    );
    const p = i >= 0 ? unmatched.splice(i, 1)[0] : undefined;
    const error = p?.body?.error as { code?: string; message?: string } | undefined;
    check.ok(p, `${c.name}: poisoned`);
    if (!p) continue;
    check.ok(
      error?.code && c.codes.includes(error.code),
      `${c.name}: code ${error?.code}, expected ${c.codes.join('|')} (${error?.message})`,
    );
    check.ok((error?.message ?? '').length > 10, `${c.name}: a reason`);
    check.equal(p.body?.dequeueCount, 1, `${c.name}: poisoned on its first delivery`);
    outcomes.push(`${c.name} → ${error?.code}`);
  }

  // Nothing outside thumbs/<good video>/, no container the suite did not make.
  const thumbs = await storage.blobs.list(names.thumbnailContainer, '');
  const stray = thumbs.filter((b) => !/^h\/good[0-3]\.mp4\/[a-z.-]+$/.test(b.name));
  check.equal(stray.length, 0, `blobs outside thumbs/<video>/ (${stray.map((b) => b.name).join(', ')})`);
  const videos = await storage.blobs.list(names.videoContainer, '');
  check.ok(
    videos.every((b) => b.name.startsWith('h/')),
    'nothing new in the videos container',
  );
  const containers: string[] = [];
  for await (const c of storage.blobs.service.listContainers()) containers.push(c.name);
  const known = /^(crash|shutdown|outage|ffmpeg|hostile|load)-(videos|thumbs)$/;
  check.ok(
    containers.every((c) => known.test(c)),
    `only the suite's containers exist (${containers.join(', ')})`,
  );
  let canaryInOutputs = 0;
  for (const b of thumbs) {
    const bytes = await storage.blobs
      .container(names.thumbnailContainer)
      .getBlobClient(b.name)
      .downloadToBuffer();
    if (bytes.includes(canary.token)) canaryInOutputs++;
  }
  check.equal(canaryInOutputs, 0, 'outputs containing the canary file content');
  const logText = readLog(worker.log)
    .map((l) => JSON.stringify(l))
    .join('\n');
  check.ok(!logText.includes(canary.token), 'canary content in logs');
  check.equal(canary.hits.length, 0, `canary server hits (${canary.hits.join(', ')})`);
  check.equal((await readdir(dirname(canary.file))).join(','), 'secret.txt', 'canary folder untouched');
  check.equal((await leftovers(worker.tempDir)).length, 0, 'temp files');
  const goodDone = (await Promise.all([0, 1, 2, 3].map((i) => storage.jobs.get(`h-good${i}`)))).filter(
    (j) => j?.status === 'done',
  ).length;
  return {
    check,
    figures: `${sent.length} hostile messages, all poisoned on delivery 1 with a reason (${outcomes.join(', ')})${refusedByQueue.length ? `; refused by the queue itself: ${refusedByQueue.join(', ')}` : ''}; ${goodDone}/4 interleaved good jobs done; canary hits ${canary.hits.length}, canary bytes in outputs ${canaryInOutputs}, stray blobs ${stray.length}, temp files 0`,
  };
}
