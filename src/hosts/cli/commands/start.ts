import type { Command } from 'commander';
import { addStorageOptions, positiveInt, requireFfmpeg, settingsFromFlags } from './shared.js';

export function register(program: Command): void {
  addStorageOptions(
    program
      .command('start')
      .description(
        'local all-in-one: storage emulator (unless AzureWebJobsStorage is set), queue worker and HTTP server',
      )
      .option('--in-memory', 'keep emulator data in memory instead of .thumbnailer/')
      .option('--port <port>', 'HTTP port (default: THUMBNAILER_PORT or 7071)', positiveInt)
      .option('--concurrency <n>', 'jobs at a time (default: THUMBNAILER_CONCURRENCY or 2)', positiveInt)
      .option(
        '--allow-open',
        'serve the API without THUMBNAILER_API_TOKEN beyond loopback (THUMBNAILER_HOST), on purpose (THUMBNAILER_ALLOW_OPEN=1)',
      ),
  ).action(async (flags: Record<string, unknown>) => {
    const settings = await settingsFromFlags(flags, {
      port: flags.port as number | undefined,
      worker: flags.concurrency ? { concurrency: flags.concurrency as number } : undefined,
      allowOpen: flags.allowOpen ? true : undefined,
    });
    // Before anything starts: an open API beyond loopback is refused in one sentence.
    const { checkOpenBinding } = await import('../../http/exposure.js');
    checkOpenBinding(settings);
    await requireFfmpeg();
    const { runLocalService } = await import('../../worker/local.js');
    process.exitCode = await runLocalService(settings, { inMemory: Boolean(flags.inMemory) });
  });
}
