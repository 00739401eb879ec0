import type { Command } from 'commander';
import { addGenerateOptions, collectGenerateOptions } from '../options.js';
import { addStorageOptions, positiveInt, settingsFromFlags } from './shared.js';

export function register(program: Command): void {
  addGenerateOptions(
    addStorageOptions(
      program
        .command('submit')
        .description(
          'upload a local video, queue its job, and with --wait follow it and print the output URLs',
        )
        .argument('<file>', 'a local video file')
        .option('--name <blob>', 'blob name in the videos container (default: the file name)')
        .option('--wait', 'follow the job until it ends, then print the output URLs')
        .option('--timeout <seconds>', 'with --wait: give up after this long', positiveInt),
    ),
  ).action(async (file: string, flags: Record<string, unknown>) => {
    const { submitVideo } = await import('../submit.js');
    const settings = await settingsFromFlags(flags);
    const code = await submitVideo(settings, file, {
      name: flags.name as string | undefined,
      wait: Boolean(flags.wait),
      timeoutMs: flags.timeout ? (flags.timeout as number) * 1000 : undefined,
      options: collectGenerateOptions(flags),
    });
    process.exitCode = code;
  });
}
