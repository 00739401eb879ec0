import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { oursGenerate } from '../lib/commands.js';
import { canMeasureMemory, measureMemory } from '../lib/memory.js';
import { describeFailure } from '../lib/proc.js';
import type { Section, TargetRow } from '../lib/types.js';

/**
 * Peak memory of our `generate` on the 60-min video (docs/contract.md section 9: under 300 MB whatever the
 * video size), strip only and default outputs, one untimed run each, outputs checked. Judged on
 * node + ffmpeg together, the figure a container limit sees; the largest single process is shown too.
 */
export const memorySection: Section = {
  name: 'memory',
  title: 'peak memory of generate, 60-min',
  needsOurs: true,
  async run(ctx) {
    if (!canMeasureMemory()) {
      return { timings: [], targets: [], notes: ['memory not measured: no /proc on this system.'] };
    }
    const video = ctx.media.long;
    const cases = [
      oursGenerate(ctx, 'memory-strip-60', 'strip', video, ['strip']),
      oursGenerate(ctx, 'memory-full-60', 'strip + poster + storyboard', video),
    ];
    const targets: TargetRow[] = [];
    for (const item of cases) {
      const dir = join(ctx.tmp, item.row.id);
      await mkdir(dir, { recursive: true });
      const command = item.make(dir);
      const report = await measureMemory(command.file, command.args, {
        timeoutMs: command.timeoutMs,
        signal: ctx.signal,
        tmp: ctx.tmp,
      });
      const problems =
        report.result.code === 0
          ? await command.verify().catch((error: Error) => [`check failed: ${error.message}`])
          : [`failed (${describeFailure(report.result)})`];
      const largest = report.largestProcessMB;
      ctx.log(
        `  memory, ${item.row.label}, 60-min: node + ffmpeg ${report.treeMB.toFixed(0)} MB, largest process ` +
          `${largest === undefined ? '?' : largest.toFixed(0)} MB${problems.length ? ' INVALID' : ', output checked'}`,
      );
      for (const p of problems.slice(0, 8)) ctx.log(`    - ${p}`);
      if (problems.length === 0 && !ctx.keep) await rm(dir, { recursive: true, force: true });
      targets.push({
        label: `peak RSS of generate (${item.row.label}), 60-min, node + ffmpeg`,
        // The tree is sampled; the largest process is exact: take whichever is larger.
        value: Math.max(report.treeMB, largest ?? 0),
        unit: 'MB',
        comparator: '<',
        target: 300,
        from: [],
        problems,
        detail:
          `largest single process ${largest === undefined ? '?' : largest.toFixed(0)} MB ` +
          `(${report.source === 'time' ? '/usr/bin/time %M' : 'VmHWM'}); process tree sampled every 20 ms`,
      });
    }
    return { timings: [], targets, notes: [] };
  },
};
