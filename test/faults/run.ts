/**
 * `npm run test:faults [-- --soak] [-- --only name,name]`: docs/contract.md sections 7 and 8 under real
 * faults. Real Azurite (custom account), real ffmpeg, real `thumbnailer worker` processes, all on
 * 127.0.0.1; every scenario is bounded in time; a markdown table at the end. Exit code 1 when a
 * scenario fails.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Check, startRig, stopRig, type Rig } from './harness.js';
import { crash } from './scenarios/crash.js';
import { ffmpegFailure } from './scenarios/ffmpeg.js';
import { hostile } from './scenarios/hostile.js';
import { load } from './scenarios/load.js';
import { outage } from './scenarios/outage.js';
import { secrets } from './scenarios/secrets.js';
import { shutdown } from './scenarios/shutdown.js';

export interface ScenarioOutcome {
  check: Check;
  figures: string;
}

interface Scenario {
  name: string;
  run: (rig: Rig) => Promise<ScenarioOutcome>;
  /** Hard bound, default mode / soak. */
  limitMs: [number, number];
}

const SCENARIOS: Scenario[] = [
  { name: 'crashes', run: crash, limitMs: [120_000, 400_000] },
  { name: 'shutdown', run: shutdown, limitMs: [90_000, 180_000] },
  { name: 'storage outage', run: outage, limitMs: [120_000, 240_000] },
  { name: 'ffmpeg failure', run: ffmpegFailure, limitMs: [90_000, 120_000] },
  { name: 'hostile input', run: hostile, limitMs: [90_000, 120_000] },
  { name: 'load', run: load, limitMs: [240_000, 960_000] },
  // Last: reads everything the others left behind.
  { name: 'secrets', run: secrets, limitMs: [60_000, 60_000] },
];

const args = process.argv.slice(2);
const soak = args.includes('--soak');
const onlyArg = args.indexOf('--only');
const only = onlyArg >= 0 ? (args[onlyArg + 1] ?? '').split(',') : undefined;
const keep = args.includes('--keep');

const started = Date.now();
const root = await mkdtemp(join(tmpdir(), 'thumbnailer-faults-'));
console.log(`fault suite (${soak ? 'soak' : 'default'} mode), work folder ${root}`);
const rig = await startRig(root, soak);
const rows: { name: string; result: string; figures: string; ms: number; failures: string[] }[] = [];
try {
  for (const s of SCENARIOS) {
    if (only && !only.some((o) => s.name.startsWith(o))) continue;
    const t0 = Date.now();
    process.stdout.write(`- ${s.name} ... `);
    const limit = s.limitMs[soak ? 1 : 0];
    let timer: NodeJS.Timeout | undefined;
    try {
      const outcome = await Promise.race([
        s.run(rig),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`scenario exceeded its ${limit / 1000} s bound`)), limit);
        }),
      ]);
      const ok = outcome.check.failures.length === 0;
      rows.push({
        name: s.name,
        result: ok ? 'PASS' : 'FAIL',
        figures: outcome.figures,
        ms: Date.now() - t0,
        failures: outcome.check.failures,
      });
    } catch (error) {
      rows.push({
        name: s.name,
        result: 'FAIL',
        figures: '',
        ms: Date.now() - t0,
        failures: [error instanceof Error ? (error.stack ?? error.message) : String(error)],
      });
    } finally {
      clearTimeout(timer);
      // A scenario leaves no worker behind, whatever happened.
      for (const w of rig.workers) if (w.alive) w.child.kill('SIGKILL');
    }
    const row = rows.at(-1)!;
    console.log(`${row.result} (${(row.ms / 1000).toFixed(1)} s)`);
    for (const f of row.failures) console.log(`    ${f}`);
  }
} finally {
  await stopRig(rig);
  if (!keep) await rm(root, { recursive: true, force: true });
}

const total = (Date.now() - started) / 1000;
console.log('');
console.log('| scenario | result | time | figures |');
console.log('|---|---|---|---|');
for (const r of rows)
  console.log(
    `| ${r.name} | ${r.result} | ${(r.ms / 1000).toFixed(0)} s | ${r.figures.replace(/\|/g, '/')} |`,
  );
console.log('');
console.log(`total ${total.toFixed(0)} s (${soak ? 'soak' : 'default'} mode)`);
const passed = rows.filter((r) => r.result === 'PASS').length;
// The plain closing line CI reads, like a test runner's.
console.log(`faults: ${passed} passed, ${rows.length - passed} failed`);
process.exit(passed === rows.length ? 0 : 1);
