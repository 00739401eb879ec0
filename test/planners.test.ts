import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DEFAULT_LIMITS, parseGenerateOptions, type GenerateOptionsInput } from '../src/engine/options.js';
import { planOutputs } from '../src/engine/planners.js';
import { facts } from './support/facts.js';

let work: string;
before(async () => {
  work = await mkdtemp(join(tmpdir(), 'thumbnailer-planners-'));
});
after(() => rm(work, { recursive: true, force: true }));

async function plan(options: GenerateOptionsInput, name: string) {
  const dir = join(work, name);
  await rm(dir, { recursive: true, force: true });
  const staging = join(dir, 'out');
  await mkdir(staging, { recursive: true });
  const outputs = await planOutputs({
    facts: facts(),
    options: parseGenerateOptions(options),
    staging,
    work: dir,
    signal: new AbortController().signal,
    limits: DEFAULT_LIMITS,
    timed: (_name, run) => run(),
  });
  return { outputs, staging };
}

/**
 * The planners run in one order, whatever order the options name the outputs in: a request's place
 * is its bit in the selection file's time codes, and the manifest lists the files in that order.
 */
describe('one planner per output', () => {
  test('requests in the run order: strip, storyboard groups, poster, animated, bif; the poster is the best-frame one', async () => {
    const { outputs } = await plan(
      { outputs: ['bif', 'animated', 'poster', 'storyboard', 'strip'], storyboardInterval: 2 },
      'order',
    );
    // 150 storyboard tiles: one full sheet of 100, then a shorter one.
    assert.deepEqual(
      outputs.branches.map((b) => b.id),
      ['strip', 'storyboard-0', 'storyboard-1', 'poster', 'animated', 'bif'],
    );
    assert.equal(outputs.best?.request, 3);
    assert.equal(outputs.best?.output.name, 'poster');
  });

  test('after the run, each output lists its files in the same order; the poster shows the chosen candidate', async () => {
    const { outputs, staging } = await plan(
      { outputs: ['animated', 'poster', 'storyboard', 'strip'], storyboardWidths: [160, 320] },
      'files',
    );
    // The track files that need nothing from the run are written while planning.
    assert.deepEqual((await readdir(staging)).sort(), [
      'storyboard-320w.json',
      'storyboard-320w.vtt',
      'storyboard.json',
      'storyboard.vtt',
    ]);
    const planned = outputs.branches.map((b) => ({ id: b.id, marks: [], times: b.times }));
    const files = await outputs.assemble(planned, 3);
    assert.deepEqual(
      files.map((f) => f.file),
      [
        'strip.jpg',
        'storyboard.jpg',
        'storyboard.vtt',
        'storyboard.json',
        'storyboard-320w.jpg',
        'storyboard-320w.vtt',
        'storyboard-320w.json',
        'poster.jpg',
        'preview.webp',
      ],
    );
    const posterRequest = outputs.branches.findIndex((b) => b.id === 'poster');
    assert.deepEqual(files.find((f) => f.kind === 'poster')?.times, [
      outputs.branches[posterRequest]!.times[3],
    ]);
  });
});
