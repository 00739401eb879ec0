import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { describeFailure, run } from './proc.js';
import type { BenchContext, TimingRow } from './types.js';

/** A whole command to time: spawned as is, then its output checked outside the timing. */
export interface TimedCommand {
  file: string;
  args: string[];
  timeoutMs: number;
  /** Checks what the run made in `dir`; returns problems, none when valid. */
  verify: () => Promise<string[]>;
}

export interface Timed {
  row: TimingRow;
  /** Builds the command for one run, writing into the empty folder `dir`. */
  make: (dir: string) => TimedCommand;
}

export function timed(id: string, label: string, command: string, make: Timed['make']): Timed {
  return { row: { id, label, command, seconds: [], problems: [] }, make };
}

let runCounter = 0;

/**
 * Runs one command once into a fresh folder; records its seconds when it exits with 0, then checks
 * its output. A failed or invalid run is recorded as a problem and its folder kept for a look.
 */
export async function runOnce(ctx: BenchContext, item: Timed, round: string, record = true): Promise<void> {
  const dir = join(ctx.tmp, `${item.row.id}-${round}-${++runCounter}`);
  await mkdir(dir, { recursive: true });
  const command = item.make(dir);
  const result = await run(command.file, command.args, { timeoutMs: command.timeoutMs, signal: ctx.signal });
  if (ctx.signal.aborted) throw new Error('interrupted');
  let problems: string[];
  if (result.code !== 0) {
    problems = [`failed (${describeFailure(result)})`];
  } else {
    if (record) item.row.seconds.push(result.seconds);
    problems = await command.verify().catch((error: Error) => [`check failed: ${error.message}`]);
  }
  const tag = record ? `round ${round}` : 'warm-up';
  if (problems.length > 0) {
    item.row.problems.push(...problems.map((p) => `${tag}: ${p}`));
    ctx.log(`  ${item.row.label} (${tag}): ${result.seconds.toFixed(2)} s INVALID`);
    for (const p of problems.slice(0, 8)) ctx.log(`    - ${p}`);
    ctx.log(`    output kept in ${dir}`);
  } else {
    ctx.log(`  ${item.row.label} (${tag}): ${result.seconds.toFixed(2)} s, output checked`);
    if (!ctx.keep) await rm(dir, { recursive: true, force: true });
  }
}
