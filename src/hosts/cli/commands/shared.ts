import { InvalidArgumentError, type Command } from 'commander';
import type { Settings, SettingsOverrides } from '../../../config.js';

/** Flags naming the storage settings of docs/contract.md section 2 (each overrides its variable). */
export function addStorageOptions(command: Command): Command {
  return command
    .option('--connection-string <string>', 'storage connection string (default: AzureWebJobsStorage)')
    .option('--video-container <name>', 'source container (default: VIDEOCONTAINER or videos)')
    .option('--thumbnail-container <name>', 'output container (default: THUMBNAILCONTAINER or thumbnails)')
    .option('--queue <name>', 'request queue (default: THUMBNAIL_QUEUE or thumbnail-requests)');
}

export const positiveInt = (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive whole number');
  return n;
};

/** Settings from the environment and the storage flags; a bad one is reported by name. */
export async function settingsFromFlags(
  flags: Record<string, unknown>,
  extra: SettingsOverrides = {},
  env: NodeJS.ProcessEnv = process.env,
): Promise<Settings> {
  const { loadSettings } = await import('../../../config.js');
  return loadSettings(
    {
      connectionString: flags.connectionString as string | undefined,
      videoContainer: flags.videoContainer as string | undefined,
      thumbnailContainer: flags.thumbnailContainer as string | undefined,
      queueName: flags.queue as string | undefined,
      ...extra,
    },
    env,
  );
}

/** Fails fast, in one sentence, when ffmpeg or ffprobe is missing (the seed's `spawn ffprobe ENOENT`). */
export async function requireFfmpeg(): Promise<void> {
  const { resolveBinaries } = await import('../../../engine/binaries.js');
  resolveBinaries();
}
