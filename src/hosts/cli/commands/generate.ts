import { InvalidArgumentError, type Command } from 'commander';
import { addGenerateOptions, collectGenerateOptions } from '../options.js';
import { positiveInt, settingsFromFlags } from './shared.js';

export function register(program: Command): void {
  addGenerateOptions(
    program
      .command('generate')
      .description(
        'make the strip, poster, storyboard (and optional animated preview) of local files, folders or URLs into a folder',
      )
      .argument(
        '<inputs...>',
        'video files, folders of videos or http(s) URLs; several inputs or a folder give one sub-folder per video',
      )
      .requiredOption('-o, --out <dir>', 'output folder')
      .option('-r, --recursive', 'walk folders recursively')
      .option('--concurrency <n>', 'videos made at once, 1 to 16 (default 2)', (v: string) => {
        const n = positiveInt(v);
        if (n > 16) throw new InvalidArgumentError('must be 16 or less (each video runs its own ffmpeg)');
        return n;
      }),
  )
    .option('--json', 'print the manifest as JSON (an array of results for several videos)')
    .action(async (inputs: string[], flags: Record<string, unknown>) => {
      const { parseGenerateOptions } = await import('../../../engine/options.js');
      const options = parseGenerateOptions(collectGenerateOptions(flags));
      // The limit settings (THUMBNAILER_JOB_TIMEOUT_MS, THUMBNAILER_MAX_INPUT_BYTES...) hold here too.
      const settings = await settingsFromFlags({});
      const { engineLimitsFrom } = await import('../../../jobs/limits.js');
      const batch = await import('../batch.js');
      // The engine loads only when a video needs making: a run where all is current stays quick.
      const generate = async (request: import('../../../engine/types.js').GenerateRequest) =>
        (await import('../../../engine/generate.js')).generate(request);
      const out = String(flags.out);
      const { items, failures, single } = await batch.expandInputs(inputs, out, flags.recursive === true);
      // The bar's module loads only for a terminal: pipes, CI and benchmarks don't pay for it.
      const bar =
        flags.json || !process.stderr.isTTY
          ? undefined
          : (await import('../progress.js')).progressBar('generating');
      const controller = new AbortController();
      const onSignal = () => controller.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      const say = (line: string): void => void process.stdout.write(`${line}\n`);
      let results: Awaited<ReturnType<typeof batch.runBatch>>;
      try {
        results = await batch.runBatch(items, {
          options,
          concurrency: single ? 1 : ((flags.concurrency as number | undefined) ?? 2),
          limits: engineLimitsFrom(settings),
          tempDir: settings.worker.tempDir,
          signal: controller.signal,
          generate,
          onProgress: (fraction, finished, total) =>
            bar?.update(fraction, total > 1 ? `${finished}/${total} videos` : ''),
          // Without a bar, each video is reported as it ends (logs, CI); with one, in the summary.
          onResult: (r) => {
            if (!bar && !flags.json && !single) say(resultLine(r));
          },
        });
      } finally {
        bar?.stop();
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
      if (controller.signal.aborted) {
        const { ThumbnailerError } = await import('../../../errors.js');
        throw new ThumbnailerError('E_CANCELED', 'Stopped: the videos not finished were left untouched.');
      }
      const all = [...failures, ...results];

      if (single && all.length === 1) {
        // One video: today's layout and output, and its error as the command's own.
        const r = all[0]!;
        if (r.status === 'failed') throw r.error;
        if (flags.json) return say(JSON.stringify(r.manifest, null, 2));
        if (r.status === 'up-to-date')
          return say(`${out}: up to date (same file and options), nothing to do`);
        for (const output of r.manifest.outputs) {
          const size = output.width ? ` ${output.width}x${output.height}` : '';
          say(`${out}/${output.file}${size} ${output.bytes} bytes`);
        }
        return say(`${out}/manifest.json (${r.manifest.timings.total} ms, route ${r.manifest.route})`);
      }

      const failed = all.filter((r) => r.status === 'failed');
      if (flags.json) {
        say(
          JSON.stringify(
            all.map((r) => ({
              input: r.item.input,
              outDir: r.item.outDir,
              status: r.status,
              ...(r.status === 'failed' ? { error: r.error.toJSON() } : { manifest: r.manifest }),
            })),
            null,
            2,
          ),
        );
      } else {
        if (bar) all.forEach((r) => say(resultLine(r)));
        else failures.forEach((r) => say(resultLine(r)));
        const made = all.filter((r) => r.status === 'made').length;
        const current = all.filter((r) => r.status === 'up-to-date').length;
        say(
          `${all.length} video${all.length === 1 ? '' : 's'}: ${made} made, ${current} up to date, ${failed.length} failed` +
            (all.length === 0 ? ' (no video files found; --recursive walks sub-folders)' : ''),
        );
      }
      if (failed.length > 0) {
        for (const r of failed)
          process.stderr.write(`thumbnailer: ${r.error.code}: ${r.item.input}: ${r.error.message}\n`);
        process.exitCode = 1;
      }
    });
}

function resultLine(r: import('../batch.js').ItemResult): string {
  if (r.status === 'failed') return `FAIL ${r.item.input}: ${r.error.code}: ${r.error.message}`;
  if (r.status === 'up-to-date') return `skip ${r.item.input}: up to date in ${r.item.outDir}`;
  return `ok   ${r.item.input} -> ${r.item.outDir} (${r.manifest.outputs.length} files, ${r.manifest.timings.total} ms)`;
}
