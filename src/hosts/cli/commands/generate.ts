import type { Command } from 'commander';
import { addGenerateOptions, collectGenerateOptions } from '../options.js';
import { settingsFromFlags } from './shared.js';

export function register(program: Command): void {
  addGenerateOptions(
    program
      .command('generate')
      .description(
        'make the strip, poster, storyboard (and optional animated preview) of a local file or URL into a folder',
      )
      .argument('<file-or-url>', 'a local video file or an http(s) URL')
      .requiredOption('-o, --out <dir>', 'output folder'),
  )
    .option('--json', 'print the manifest as JSON')
    .action(async (input: string, flags: Record<string, unknown>) => {
      const { parseGenerateOptions } = await import('../../../engine/options.js');
      const options = parseGenerateOptions(collectGenerateOptions(flags));
      // The limit settings (THUMBNAILER_JOB_TIMEOUT_MS, THUMBNAILER_MAX_INPUT_BYTES...) hold here too.
      const settings = await settingsFromFlags({});
      const { engineLimitsFrom } = await import('../../../limits.js');
      const { generate } = await import('../../../engine/generate.js');
      // The bar's module loads only for a terminal: pipes, CI and benchmarks don't pay for it.
      const bar =
        flags.json || !process.stderr.isTTY
          ? undefined
          : (await import('../progress.js')).progressBar('generating');
      const source = /^https?:\/\//i.test(input)
        ? ({ kind: 'url', url: input } as const)
        : ({ kind: 'file', path: input } as const);
      const controller = new AbortController();
      const onSignal = () => controller.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      try {
        const manifest = await generate({
          source,
          outDir: String(flags.out),
          options,
          limits: engineLimitsFrom(settings),
          tempDir: settings.worker.tempDir,
          signal: controller.signal,
          onProgress: (p) => bar?.update(p.fraction, p.phase),
        });
        bar?.stop();
        if (flags.json) {
          process.stdout.write(JSON.stringify(manifest, null, 2) + '\n');
        } else {
          for (const output of manifest.outputs) {
            const size = output.width ? ` ${output.width}x${output.height}` : '';
            process.stdout.write(`${String(flags.out)}/${output.file}${size} ${output.bytes} bytes\n`);
          }
          process.stdout.write(
            `${String(flags.out)}/manifest.json (${manifest.timings.total} ms, route ${manifest.route})\n`,
          );
        }
      } finally {
        bar?.stop();
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    });
}
