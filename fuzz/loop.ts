import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { CoverageMap } from './coverage.js';
import { mutate, Rng } from './mutate.js';
import type { FuzzTarget } from './target.js';

/**
 * The fuzz loop of one target, coverage-guided: inputs come from the target's structured
 * generator or from byte mutation of the corpus; an input that reaches a block of the target's
 * code (V8 block coverage, see coverage.ts) not reached before joins the corpus, so later mutations
 * start from it. Coverage is taken once per batch; a batch that reached something new is run again
 * input by input to find which ones did. Inputs that joined the corpus are saved under
 * `.fuzz/corpus/<target>/` (not committed) and read back by the next run.
 */

export interface LoopOptions {
  seconds: number;
  /** Stop after this many inputs (0: no limit). */
  maxInputs: number;
  seed: number;
  /** Run the corpus once, no mutation (regression and coverage replay). */
  replay: boolean;
  /** Seed from fuzz/corpus only, not from what earlier runs found in .fuzz/corpus. */
  committedOnly?: boolean;
  root: string;
  /** Where the input being run is written before it runs (read by the watchdog on a hang). */
  current?: { header: Int32Array; bytes: Uint8Array };
  onProgress?: (stats: LoopStats) => void;
}

export interface LoopStats {
  target: string;
  inputs: number;
  seconds: number;
  corpus: number;
  seeds: number;
  /** Corpus entries added by this run (coverage increases). */
  found: number;
  /** Functions and blocks of the target's code reached. */
  blocks: number;
  extra: Record<string, number>;
}

export interface LoopFailure {
  input: Uint8Array;
  message: string;
  stack: string;
}

const MAX_BATCH = 256;
const GENERATED_CHUNK = 512;

export function corpusDirs(root: string, target: string): { committed: string; found: string } {
  return { committed: join(root, 'fuzz', 'corpus', target), found: join(root, '.fuzz', 'corpus', target) };
}

function readCorpus(dir: string): Uint8Array[] {
  try {
    return readdirSync(dir)
      .filter((f) => !f.startsWith('.') && f !== 'README.md')
      .sort()
      .map((f) => new Uint8Array(readFileSync(join(dir, f))));
  } catch {
    return [];
  }
}

export async function runLoop(
  target: FuzzTarget,
  options: LoopOptions,
): Promise<{ stats: LoopStats; failure?: LoopFailure }> {
  const dirs = corpusDirs(options.root, target.name);
  const seeds = [...readCorpus(dirs.committed), ...(options.committedOnly ? [] : readCorpus(dirs.found))];
  const rng = new Rng(options.seed);
  const coverage = new CoverageMap(target.coverage);
  const corpus: Uint8Array[] = [];
  const dictionary = (target.dictionary ?? []).map((t) =>
    typeof t === 'string' ? new Uint8Array(Buffer.from(t, 'utf8')) : t,
  );
  const started = performance.now();
  let inputs = 0;
  let found = 0;
  const elapsed = () => (performance.now() - started) / 1000;
  const stats = (): LoopStats => ({
    target: target.name,
    inputs,
    seconds: Math.round(elapsed() * 10) / 10,
    corpus: corpus.length,
    seeds: seeds.length,
    found,
    blocks: coverage.size,
    extra: target.stats?.() ?? {},
  });

  const stackLimit = Error.stackTraceLimit;
  const runOne = async (input: Uint8Array): Promise<LoopFailure | undefined> => {
    const failure = await runInput(input);
    if (!failure || target.needsStacks) return failure;
    // Once more with stack traces, for the report.
    Error.stackTraceLimit = stackLimit;
    try {
      return (await runInput(input)) ?? failure;
    } finally {
      Error.stackTraceLimit = 0;
    }
  };
  const runInput = async (input: Uint8Array): Promise<LoopFailure | undefined> => {
    if (options.current) {
      const length = Math.min(input.length, options.current.bytes.length);
      options.current.bytes.set(input.subarray(0, length));
      Atomics.store(options.current.header, 1, length);
    }
    try {
      const running = target.run(input);
      if (running) await running;
    } catch (error) {
      const e = error instanceof Error ? error : new Error(String(error));
      return { input, message: `${e.name}: ${e.message}`, stack: e.stack ?? String(e) };
    } finally {
      inputs++;
      if (options.current) Atomics.add(options.current.header, 0, 1);
    }
    return undefined;
  };
  const keep = (input: Uint8Array, fresh: string[], save: boolean) => {
    coverage.commit(fresh);
    corpus.push(input);
    if (!save) return;
    found++;
    mkdirSync(dirs.found, { recursive: true });
    const name = createHash('sha256').update(input).digest('hex').slice(0, 16);
    writeFileSync(join(dirs.found, name), input);
  };

  let generated: Uint8Array[] = [];
  let generatorSeed = options.seed;
  const nextInput = (): Uint8Array => {
    if (target.generator && (corpus.length === 0 || rng.chance(target.generatedShare ?? 0.5))) {
      if (generated.length === 0) {
        generated = fc.sample(target.generator, { seed: generatorSeed++, numRuns: GENERATED_CHUNK });
      }
      const input = generated.pop()!;
      // A generated input is also a start for mutation, now and then.
      return rng.chance(0.25) && corpus.length > 0 ? mutateOne(input) : input;
    }
    return mutateOne(corpus.length > 0 ? parent() : new Uint8Array(0));
  };
  // Half the mutations start from one of the newest entries: a branch just reached is where the
  // next one is likely to be (AFL favours new entries likewise).
  const parent = () =>
    rng.chance(0.5) ? corpus[corpus.length - 1 - rng.below(Math.min(16, corpus.length))]! : rng.pick(corpus);
  const mutateOne = (input: Uint8Array) =>
    mutate(input, {
      rng,
      maxBytes: target.maxInputBytes,
      dictionary,
      other: () => (corpus.length > 0 ? rng.pick(corpus) : new Uint8Array(0)),
    });

  await target.setup?.();
  if (!target.needsStacks) Error.stackTraceLimit = 0;
  coverage.start();
  try {
    // Every seed runs once and stays in the corpus, whatever it reaches.
    for (const seed of seeds) {
      const failure = await runOne(seed);
      if (failure) return { stats: stats(), failure };
      keep(seed, coverage.collect(), false);
    }
    if (options.replay) return { stats: stats() };

    let batchSize = 1;
    let lastReport = performance.now();
    while (elapsed() < options.seconds && (options.maxInputs === 0 || inputs < options.maxInputs)) {
      const batch: Uint8Array[] = [];
      for (let i = 0; i < batchSize; i++) {
        const input = nextInput();
        batch.push(input);
        const failure = await runOne(input);
        if (failure) return { stats: stats(), failure };
      }
      const fresh = coverage.collect();
      if (fresh.length > 0) {
        // Which inputs of the batch reached something new: each runs again on its own.
        if (batch.length === 1) keep(batch[0]!, fresh, true);
        else {
          for (const input of batch) {
            const failure = await runOne(input);
            if (failure) return { stats: stats(), failure };
            const mine = coverage.collect();
            if (mine.length > 0) keep(input, mine, true);
          }
          coverage.commit(fresh);
        }
        batchSize = Math.max(1, batchSize >> 1);
      } else {
        batchSize = Math.min(MAX_BATCH, batchSize * 2);
      }
      if (performance.now() - lastReport > 1000) {
        lastReport = performance.now();
        options.onProgress?.(stats());
      }
    }
    return { stats: stats() };
  } finally {
    Error.stackTraceLimit = stackLimit;
    coverage.stop();
    await target.teardown?.();
  }
}
