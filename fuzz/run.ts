import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import type { LoopFailure, LoopStats } from './loop.js';
import { loadTarget, TARGETS } from './targets/index.js';
import type { WorkerInput } from './worker.js';

/**
 * npm run fuzz [-- --target NAME[,NAME] --seconds N --runs N --seed N]
 * npm run fuzz -- --replay [--target NAME]        the corpus once, no mutation
 *   (--committed: fuzz/corpus only, without what earlier runs found in .fuzz/corpus)
 * npm run fuzz -- --reproduce FILE --target NAME   one saved input, with its stack
 *
 * Each target runs in a worker thread for its budget; the main thread watches it: an input that
 * runs past the target's hang limit is a failure too. A failing input is printed and saved under
 * `.fuzz/crashes/<target>/`; the exit status is 1 when any contract was broken.
 */

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    target: { type: 'string', multiple: true },
    seconds: { type: 'string' },
    runs: { type: 'string' },
    seed: { type: 'string' },
    replay: { type: 'boolean', default: false },
    committed: { type: 'boolean', default: false },
    reproduce: { type: 'string' },
    json: { type: 'string' },
    list: { type: 'boolean', default: false },
  },
});

const names = (values.target ?? []).flatMap((t) => t.split(',')).filter(Boolean);
for (const n of names)
  if (!TARGETS[n]) fail(`No fuzz target ${JSON.stringify(n)}: one of ${Object.keys(TARGETS).join(', ')}`);
const chosen = names.length > 0 ? names : Object.keys(TARGETS);
const number = (text: string | undefined, what: string) => {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isFinite(n) || n < 0) fail(`--${what} must be a number >= 0`);
  return n;
};
const seconds = number(values.seconds, 'seconds');
const runs = number(values.runs, 'runs') ?? 0;
const seed = number(values.seed, 'seed') ?? Date.now() % 2 ** 31;

function fail(message: string): never {
  console.error(message);
  process.exit(2);
}

if (values.list) {
  for (const name of chosen) {
    const t = await loadTarget(name);
    console.log(`${name.padEnd(11)} ${t.defaultSeconds}s  ${t.summary}`);
  }
  process.exit(0);
}

if (values.reproduce) {
  if (chosen.length !== 1) fail('--reproduce needs one --target');
  process.exit(await reproduce(chosen[0]!, values.reproduce));
}

const results: { stats: LoopStats; failure?: LoopFailure }[] = [];
console.log(`fuzz: seed ${seed}${values.replay ? ', replay of the corpus' : ''}`);
for (const name of chosen) {
  const result = await runTarget(name);
  results.push(result);
  const s = result.stats;
  const rate = s.seconds > 0 ? Math.round(s.inputs / s.seconds) : 0;
  const extra = Object.entries(s.extra)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  console.log(
    `${name}: ${s.inputs.toLocaleString('en')} inputs in ${s.seconds} s (${rate.toLocaleString('en')}/s), ` +
      `corpus ${s.corpus} (${s.seeds} seeds, ${s.found} new), ${s.blocks} blocks reached` +
      `${extra ? `; ${extra}` : ''}; ${result.failure ? 'CONTRACT BROKEN' : 'ok'}`,
  );
  if (result.failure) report(name, result.failure);
}
if (values.json)
  writeFileSync(
    values.json,
    JSON.stringify(
      { seed, results: results.map((r) => ({ ...r.stats, failed: Boolean(r.failure) })) },
      null,
      2,
    ) + '\n',
  );
const broken = results.filter((r) => r.failure).length;
console.log(broken === 0 ? 'fuzz: every contract held' : `fuzz: ${broken} target(s) broke their contract`);
// Not process.exit(): output still on its way to a pipe would be lost. Anything left open is not waited for.
process.exitCode = broken === 0 ? 0 : 1;
setTimeout(() => process.exit(), 2000).unref();

async function runTarget(name: string): Promise<{ stats: LoopStats; failure?: LoopFailure }> {
  const target = await loadTarget(name);
  const budget = seconds ?? target.defaultSeconds;
  const hangMs = (target.hangSeconds ?? 10) * 1000;
  const header = new SharedArrayBuffer(8);
  const bytes = new SharedArrayBuffer(target.maxInputBytes);
  const data: WorkerInput = {
    target: name,
    options: {
      seconds: budget,
      maxInputs: runs,
      seed,
      replay: values.replay,
      committedOnly: values.committed,
      root,
    },
    header,
    bytes,
  };
  const worker = new Worker(new URL('./worker-entry.mjs', import.meta.url), { workerData: data });
  const counters = new Int32Array(header);
  let last: LoopStats = {
    target: name,
    inputs: 0,
    seconds: 0,
    corpus: 0,
    seeds: 0,
    found: 0,
    blocks: 0,
    extra: {},
  };
  return new Promise((resolve) => {
    let seen = -1;
    let since = performance.now();
    const watchdog = setInterval(() => {
      const count = Atomics.load(counters, 0);
      if (count !== seen) {
        seen = count;
        since = performance.now();
        return;
      }
      // Before the first input the target is setting up (Azurite, say): no hang limit then.
      if (count === 0 || performance.now() - since < hangMs) return;
      clearInterval(watchdog);
      const length = Atomics.load(counters, 1);
      const input = new Uint8Array(bytes).slice(0, length);
      void worker.terminate();
      resolve({
        stats: last,
        failure: {
          input,
          message: `Hang: one input ran longer than ${hangMs / 1000} s`,
          stack: '(terminated by the watchdog)',
        },
      });
    }, 250);
    let reported = performance.now();
    worker.on('message', (m: { kind: string; stats: LoopStats; failure?: LoopFailure }) => {
      last = m.stats;
      // A long run says how far it is, once a minute.
      if (m.kind === 'progress' && performance.now() - reported > 60_000) {
        reported = performance.now();
        console.log(
          `  ${name}: ${m.stats.inputs.toLocaleString('en')} inputs, ${m.stats.seconds} s, corpus ${m.stats.corpus}, ${m.stats.blocks} blocks`,
        );
      }
      if (m.kind !== 'done') return;
      clearInterval(watchdog);
      resolve({ stats: m.stats, failure: m.failure });
    });
    worker.on('error', (error) => {
      clearInterval(watchdog);
      resolve({
        stats: last,
        failure: {
          input: new Uint8Array(0),
          message: `The fuzz worker died: ${error.message}`,
          stack: error.stack ?? '',
        },
      });
    });
  });
}

function report(name: string, failure: LoopFailure): void {
  const dir = join(root, '.fuzz', 'crashes', name);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${createHash('sha256').update(failure.input).digest('hex').slice(0, 16)}.bin`);
  writeFileSync(file, failure.input);
  console.log(`\n${failure.message}\n${failure.stack}\n`);
  console.log(`input (${failure.input.length} bytes): ${preview(failure.input)}`);
  console.log(`saved as ${relative(process.cwd(), file)}`);
  console.log(`reproduce: npm run fuzz -- --target ${name} --reproduce ${relative(process.cwd(), file)}\n`);
}

function preview(input: Uint8Array): string {
  const text = Buffer.from(input).toString('latin1');
  const printable = [...text].filter((c) => c >= ' ' && c <= '~').length;
  if (printable >= text.length * 0.9)
    return JSON.stringify(text.length > 600 ? `${text.slice(0, 600)}...` : text);
  return `hex ${Buffer.from(input.subarray(0, 96)).toString('hex')}${input.length > 96 ? '...' : ''}`;
}

async function reproduce(name: string, file: string): Promise<number> {
  const target = await loadTarget(name);
  const input = new Uint8Array(readFileSync(file));
  await target.setup?.();
  try {
    await target.run(input);
    const outcome = Object.keys(target.stats?.() ?? {}).join(', ');
    console.log(`${name}: the contract holds for ${file}${outcome ? ` (${outcome})` : ''}`);
    return 0;
  } catch (error) {
    console.log(`${name}: the contract is broken for ${file}:`);
    console.log(error);
    return 1;
  } finally {
    await target.teardown?.();
  }
}
