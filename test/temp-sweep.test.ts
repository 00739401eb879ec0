import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { devConnectionString, loadSettings } from '../src/config.js';
import { createStorage } from '../src/adapters/storage.js';
import { generate } from '../src/engine/generate.js';
import { FrameService } from '../src/engine/frames.js';
import { createWorkerRuntime } from '../src/hosts/worker/runtime.js';
import { media } from './support/media.js';
import { memoryLogger } from './support/worker.js';

/**
 * Every kind of temporary folder the product makes names its owner's pid, and a starting worker
 * (or Functions worker process) removes those of processes that are gone, of every kind.
 */

let parent: string;
let deadPid: number;
let live: ChildProcess;

function exited(child: ChildProcess): Promise<void> {
  return new Promise((ok) => child.once('exit', () => ok()));
}

before(async () => {
  parent = await mkdtemp(join(tmpdir(), 'thumbnailer-sweep-test-'));
  const short = spawn(process.execPath, ['-e', '']);
  deadPid = short.pid!;
  await exited(short);
  live = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 600000)']);
});
after(async () => {
  live.kill();
  await rm(parent, { recursive: true, force: true });
});

async function folder(name: string): Promise<void> {
  await mkdir(join(parent, name, 'sub'), { recursive: true });
  await writeFile(join(parent, name, 'sub', 'proxy.mkv'), 'x'.repeat(1024));
}

async function leftovers(livePid: number) {
  const dead = ['job', 'engine', 'frames'].map((kind) => `thumbnailer-${kind}-${deadPid}-AbC123`);
  const alive = ['job', 'engine', 'frames'].map((kind) => `thumbnailer-${kind}-${livePid}-XyZ789`);
  // Not ours to judge: no owner in the name, or not a name the product makes.
  const foreign = ['thumbnailer-frames-q1w2e3', 'thumbnailer-abc123', 'other-123-abc'];
  for (const name of [...dead, ...alive, ...foreign]) await folder(name);
  return { dead, alive, foreign };
}

describe('temporary folders of every kind are swept by the dead-owner rule', () => {
  test('the worker removes job, engine and frame folders of dead processes at start', async () => {
    const { dead, alive, foreign } = await leftovers(live.pid!);
    const settings = loadSettings(
      { connectionString: devConnectionString({ blob: 1, queue: 2, table: 3 }), worker: { tempDir: parent } },
      {},
    );
    const { logger, lines } = memoryLogger();
    await createWorkerRuntime(settings, { logger, storage: await createStorage(settings), ensure: false });
    const names = await readdir(parent);
    for (const name of dead) assert.ok(!names.includes(name), `${name} removed`);
    for (const name of [...alive, ...foreign]) assert.ok(names.includes(name), `${name} kept`);
    assert.ok(lines.some((l) => (l as { folders?: number }).folders === dead.length));
    for (const name of [...alive, ...foreign]) await rm(join(parent, name), { recursive: true });
  });

  test('the Functions worker process sweeps the same way when its runtime starts', async () => {
    const { dead, alive } = await leftovers(live.pid!);
    const saved = { ...process.env };
    process.env.AzureWebJobsStorage = devConnectionString({ blob: 1, queue: 2, table: 3 });
    process.env.THUMBNAILER_TEMP_DIR = parent;
    process.env.THUMBNAILER_LOG_LEVEL = 'silent';
    try {
      const { getRuntime } = await import('../src/hosts/functions/runtime.js');
      await getRuntime();
    } finally {
      process.env = saved;
    }
    const names = await readdir(parent);
    for (const name of dead) assert.ok(!names.includes(name), `${name} removed`);
    for (const name of alive) assert.ok(names.includes(name), `${name} kept`);
    await rm(parent, { recursive: true });
    await mkdir(parent);
  });

  test('the engine and the frame service name their folders with their pid', async () => {
    const clip = await media('h264');
    const seen = new Set<string>();
    await generate({
      source: { kind: 'file', path: clip },
      outDir: join(parent, 'out'),
      options: { outputs: ['poster'] },
      tempDir: parent,
      onProgress: () => {
        void readdir(parent).then((names) => names.forEach((n) => seen.add(n)));
      },
    });
    await new Promise((r) => setTimeout(r, 50));
    assert.ok(
      [...seen].some((n) => n.startsWith(`thumbnailer-engine-${process.pid}-`)),
      `engine folder among ${[...seen].join(', ')}`,
    );
    const frames = new FrameService({ tempDir: parent });
    try {
      await frames.frame('clip', async () => ({ kind: 'file', path: clip }), {
        time: 1,
        width: 160,
        format: 'jpg',
        mode: 'fast',
      });
      assert.ok((await readdir(parent)).some((n) => n.startsWith(`thumbnailer-frames-${process.pid}-`)));
    } finally {
      await frames.close();
    }
  });
});
