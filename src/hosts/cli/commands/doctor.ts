import type { Command } from 'commander';

type Line = { ok: boolean | 'note'; text: string };

const print = (line: Line) =>
  process.stdout.write(`${line.ok === 'note' ? 'note' : line.ok ? 'ok  ' : 'FAIL'} ${line.text}\n`);

async function ffmpegLines(): Promise<Line[]> {
  const { checkCapabilities } = await import('../../../engine/capabilities.js');
  const { ThumbnailerError } = await import('../../../errors.js');
  try {
    const report = await checkCapabilities();
    const lines: Line[] = [
      {
        ok: true,
        text: `ffmpeg  ${report.binaries.ffmpeg} (${report.binaries.source}): ${report.ffmpegVersion}`,
      },
      {
        ok: true,
        text: `ffprobe ${report.binaries.ffprobe} (${report.binaries.source}): ${report.ffprobeVersion}`,
      },
    ];
    if (report.binaries.source === 'npm') {
      lines.push({
        ok: 'note',
        text: 'using the ffmpeg bundled with npm (an old static build); install the OS package for the best results: apt-get install ffmpeg',
      });
    }
    for (const m of report.missing) {
      lines.push({
        ok: false,
        text: `ffmpeg has no ${m.kind.replace(/s$/, '')} "${m.name}" (needed for ${m.why}): install a full ffmpeg build (apt-get install ffmpeg) or point FFMPEG_PATH to one.`,
      });
    }
    if (report.missing.length === 0) {
      lines.push({ ok: true, text: 'every filter, decoder, encoder and demuxer the engine uses is present' });
    }
    return lines;
  } catch (error) {
    const message = ThumbnailerError.is(error) ? error.message : String(error);
    return [{ ok: false, text: message }];
  }
}

/** Storage reachable, and the containers, queues and table there (without creating anything). */
async function storageLines(flags: { connectionString?: string }): Promise<Line[]> {
  const { loadSettings } = await import('../../../config.js');
  const settings = loadSettings({ connectionString: flags.connectionString });
  if (!settings.storage) {
    return [
      {
        ok: 'note',
        text: 'storage: AzureWebJobsStorage is not set; `thumbnailer start` runs the embedded emulator. Set AzureWebJobsStorage (or AzureWebJobsStorage__accountName) to check a real account.',
      },
    ];
  }
  const [{ createStorage }, { classifyStorageError }] = await Promise.all([
    import('../../../adapters/storage.js'),
    import('../../../adapters/errors.js'),
  ]);
  // "Not found" is an answer: the account is reachable, something in it is missing.
  const isNotFound = (error: unknown) => classifyStorageError(error) === 'not-found';
  const { redactSecrets } = await import('../../../errors.js');
  const reason = (error: unknown) =>
    redactSecrets(error instanceof Error ? error.message.split('\n')[0]! : String(error));
  const storage = await createStorage(settings);
  try {
    await storage.ping(AbortSignal.timeout(10_000));
  } catch (error) {
    if (!isNotFound(error))
      return [
        {
          ok: false,
          text: `storage account ${storage.accountName} is not reachable (${reason(error)}): check the connection string or endpoints, the network, and for identity-based access the role assignments.`,
        },
      ];
  }
  const lines: Line[] = [
    { ok: true, text: `storage account ${storage.accountName} reachable (blob, queue, table)` },
  ];
  const missingFix = 'it is created on first start of the worker, or create it yourself';
  const check = async (what: string, probe: () => Promise<unknown>) => {
    try {
      await probe();
      lines.push({ ok: true, text: what });
    } catch (error) {
      lines.push({
        ok: false,
        text: isNotFound(error) ? `${what} does not exist: ${missingFix}.` : `${what}: ${reason(error)}`,
      });
    }
  };
  await check(`container ${storage.videoContainer}`, () =>
    storage.blobs.list(storage.videoContainer, '.doctor/'),
  );
  await check(`container ${storage.thumbnailContainer}`, () =>
    storage.blobs.list(storage.thumbnailContainer, '.doctor/'),
  );
  await check(`queue ${settings.queueName}`, () => storage.queue.depth());
  await check(`queue ${settings.poisonQueueName}`, () => storage.poison.depth());
  await check(`table ${settings.jobsTable}`, () => storage.jobs.list(1));
  return lines;
}

/** The completion-event channels (docs/contract.md section 10). */
async function eventLines(flags: { connectionString?: string }): Promise<Line[]> {
  const { loadSettings } = await import('../../../config.js');
  const settings = loadSettings({ connectionString: flags.connectionString });
  const { eventChannelLines } = await import('../../../jobs/events/doctor.js');
  const storage = settings.storage
    ? await (await import('../../../adapters/storage.js')).createStorage(settings)
    : undefined;
  return eventChannelLines(settings, storage);
}

export function register(program: Command): void {
  program
    .command('doctor')
    .description(
      'check ffmpeg and ffprobe (found, version, filters, decoders), storage, containers and queues; say how to fix each failure',
    )
    .option('--connection-string <cs>', 'storage connection string (default: AzureWebJobsStorage)')
    .option('--no-storage', 'check ffmpeg only')
    .action(async (flags: { connectionString?: string; storage: boolean }) => {
      const lines = [...(await ffmpegLines())];
      try {
        if (flags.storage) lines.push(...(await storageLines(flags)), ...(await eventLines(flags)));
      } catch (error) {
        // A wrong setting (a webhook URL over http, say) is one line naming it, not a stack trace.
        lines.push({ ok: false, text: error instanceof Error ? error.message : String(error) });
      }
      lines.forEach(print);
      process.exitCode = lines.some((l) => l.ok === false) ? 1 : 0;
    });
}
