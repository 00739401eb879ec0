import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { describeClip, ensureClip } from '../lib/clips.js';
import { oursGenerate } from '../lib/commands.js';
import { canMeasureMemory, measureMemory } from '../lib/memory.js';
import { describeFailure } from '../lib/proc.js';
import type { BenchContext, Section, SectionResult, TargetRow } from '../lib/types.js';

type Case = { item: ReturnType<typeof oursGenerate>; on: string };

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
    const video = ctx.media.long;
    return measureCases(ctx, [
      { item: oursGenerate(ctx, 'memory-strip-60', 'strip', video, ['strip']), on: '60-min' },
      { item: oursGenerate(ctx, 'memory-full-60', 'strip + poster + storyboard', video), on: '60-min' },
    ]);
  },
};

/** docs/contract.md section 9: a single keyframe must not make the engine hold the whole GOP (or file). */
export const onekeyMemorySection: Section = {
  name: 'memory-onekey',
  title: 'peak memory of generate, a 300 MB file with a single keyframe',
  needsOurs: true,
  cleanMedia: false,
  async run(ctx) {
    const onekey = await ensureClip(join(ctx.root, 'bench', '.media'), 'onekey-300mb', ctx.log);
    ctx.log(`  ${describeClip(onekey)}`);
    const on = `${(onekey.bytes / 1024 ** 2).toFixed(0)} MB single keyframe`;
    return measureCases(ctx, [
      { item: oursGenerate(ctx, 'memory-full-onekey', 'strip + poster + storyboard', onekey), on },
    ]);
  },
};

async function measureCases(ctx: BenchContext, cases: Case[]): Promise<SectionResult> {
  if (!canMeasureMemory()) {
    return { timings: [], targets: [], notes: ['memory not measured: no /proc on this system.'] };
  }
  {
    const targets: TargetRow[] = [];
    for (const { item, on } of cases) {
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
        `  memory, ${item.row.label}, ${on}: node + ffmpeg ${report.treeMB.toFixed(0)} MB, largest process ` +
          `${largest === undefined ? '?' : largest.toFixed(0)} MB${problems.length ? ' INVALID' : ', output checked'}`,
      );
      for (const p of problems.slice(0, 8)) ctx.log(`    - ${p}`);
      if (problems.length === 0 && !ctx.keep) await rm(dir, { recursive: true, force: true });
      targets.push({
        label: `peak RSS of generate (${item.row.label}), ${on}, node + ffmpeg`,
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
  }
}
