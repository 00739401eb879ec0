import type { Command } from 'commander';
import { addStorageOptions, positiveInt, requireFfmpeg, settingsFromFlags } from './shared.js';

export function register(program: Command): void {
  addStorageOptions(
    program
      .command('worker')
      .description('run the queue worker alone: take messages, make thumbnails, write them to Blob storage')
      .option('--concurrency <n>', 'jobs at a time (default: THUMBNAILER_CONCURRENCY or 2)', positiveInt)
      .option('--once', 'take one message, finish it and exit (KEDA ScaledJob)')
      .option('--wait <seconds>', 'with --once: how long to wait for a message (default 30)', positiveInt)
      .option('--no-http', 'do not serve /healthz, /readyz and /metrics on THUMBNAILER_PORT'),
  ).action(async (flags: Record<string, unknown>) => {
    const settings = await settingsFromFlags(flags, {
      worker: flags.concurrency ? { concurrency: flags.concurrency as number } : undefined,
    });
    await requireFfmpeg();
    const [{ runWorker }, { startHealthServer }] = await Promise.all([
      import('../../worker/process.js'),
      import('../health.js'),
    ]);
    const code = await runWorker(settings, {
      once: Boolean(flags.once),
      onceWaitMs: ((flags.wait as number | undefined) ?? 30) * 1000,
      serveHealth:
        flags.http === false ? undefined : (runtime, logger) => startHealthServer(runtime, settings, logger),
    });
    process.exitCode = code;
  });
}
