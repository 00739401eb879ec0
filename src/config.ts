import { tmpdir } from 'node:os';
import { z } from 'zod';
import { ThumbnailerError } from './errors.js';

/**
 * Settings of docs/contract.md section 2 (and the worker's tuning knobs), read from the environment and
 * overridden by CLI flags: each setting's variable, default and rule are written here once, and
 * every other module (hosts, adapters, the deploy templates) takes them from here. Imports nothing
 * else from src but errors.ts.
 */

/** Azurite's well-known development account; its key is public. */
export const DEV_ACCOUNT_NAME = 'devstoreaccount1';
export const DEV_ACCOUNT_KEY =
  'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export interface EmulatorPorts {
  blob: number;
  queue: number;
  table: number;
}

export const DEFAULT_EMULATOR_PORTS: EmulatorPorts = { blob: 10000, queue: 10001, table: 10002 };

/** The full development connection string (what `UseDevelopmentStorage=true` stands for). */
export function devConnectionString(
  ports: EmulatorPorts = DEFAULT_EMULATOR_PORTS,
  host = '127.0.0.1',
): string {
  return [
    'DefaultEndpointsProtocol=http',
    `AccountName=${DEV_ACCOUNT_NAME}`,
    `AccountKey=${DEV_ACCOUNT_KEY}`,
    `BlobEndpoint=http://${host}:${ports.blob}/${DEV_ACCOUNT_NAME}`,
    `QueueEndpoint=http://${host}:${ports.queue}/${DEV_ACCOUNT_NAME}`,
    `TableEndpoint=http://${host}:${ports.table}/${DEV_ACCOUNT_NAME}`,
  ].join(';');
}

export type StorageConnection =
  | { kind: 'connectionString'; connectionString: string }
  | {
      kind: 'identity';
      accountName: string;
      blobServiceUri: string;
      queueServiceUri: string;
      tableServiceUri: string;
    };

export interface WorkerSettings {
  concurrency: number;
  /** How long a received message stays invisible; renewed at half this while the job runs. */
  visibilityTimeoutSeconds: number;
  /** Deliveries before a transiently failing message goes to the poison queue (Functions default 5). */
  maxDeliveries: number;
  /** First retry delay; doubles on each delivery, capped at `retryMaxMs`. */
  retryBaseMs: number;
  retryMaxMs: number;
  /** Idle poll interval of an empty queue. */
  pollIntervalMs: number;
  /** SIGTERM: how long jobs in hand may finish before ffmpeg is killed and messages released. */
  shutdownGraceMs: number;
  /** Wall-clock cap of one job. */
  jobTimeoutMs: number;
  /** Wall-clock cap of one ffmpeg run (the engine's `limits.ffmpegTimeoutMs`); engine default when unset. */
  ffmpegTimeoutMs?: number;
  /** An ffmpeg run silent for this long is killed (`limits.ffmpegStallTimeoutMs`); engine default when unset. */
  ffmpegStallTimeoutMs?: number;
  /** Largest input accepted, in bytes (`limits.maxInputBytes`); engine default when unset. */
  maxInputBytes?: number;
  /** Longest video accepted, in seconds (`limits.maxDurationSeconds`); engine default when unset. */
  maxDurationSeconds?: number;
  /** Largest picture accepted, width x height (`limits.maxPixels`); engine default when unset. */
  maxPixels?: number;
  /** Temporary disk one job may use, in bytes (`limits.maxTempBytes`); engine default when unset. */
  maxTempBytes?: number;
  /** Threads of each ffmpeg run (`limits.ffmpegThreads`); the CPUs the process may use when unset. */
  ffmpegThreads?: number;
  /** Parent of each job's temporary folder. */
  tempDir: string;
}

/** Where completion events go (docs/contract.md section 10); each channel is on when configured. */
export interface EventSettings {
  /** THUMBNAILER_EVENTS_QUEUE: a storage queue in the same account, created when missing. */
  queueName?: string;
  webhook?: WebhookSettings;
}

export interface WebhookSettings {
  /** THUMBNAILER_WEBHOOK_URL: https, or http to a loopback host. */
  url: string;
  /** THUMBNAILER_WEBHOOK_SECRET: `whsec_` + base64, per Standard Webhooks. Never logged. */
  secret: string;
  /** Deliveries tried before the event is given up (timeouts, 5xx, 408, 429 are retried). */
  attempts: number;
  /** Time limit of one delivery attempt. */
  timeoutMs: number;
  /** First pause between attempts; doubles each time. */
  retryBaseMs: number;
}

export interface Settings {
  /** Unset: local mode, where `thumbnailer start` runs the embedded emulator. */
  storage?: StorageConnection;
  videoContainer: string;
  thumbnailContainer: string;
  queueName: string;
  poisonQueueName: string;
  jobsTable: string;
  port: number;
  host: string;
  apiToken?: string;
  /** THUMBNAILER_ALLOW_OPEN: serve the API without a token beyond loopback, on purpose. */
  allowOpen: boolean;
  /** Largest video `POST /api/videos` accepts (THUMBNAILER_MAX_UPLOAD_BYTES). */
  maxUploadBytes: number;
  /** Environment default for the `layout` job option. */
  layout?: 'default' | 'seed';
  logLevel: string;
  worker: WorkerSettings;
  events: EventSettings;
}

/** Flags a command may pass; each wins over its environment variable. */
export interface SettingsOverrides {
  connectionString?: string;
  videoContainer?: string;
  thumbnailContainer?: string;
  queueName?: string;
  port?: number;
  host?: string;
  apiToken?: string;
  allowOpen?: boolean;
  maxUploadBytes?: number;
  layout?: 'default' | 'seed';
  logLevel?: string;
  worker?: Partial<WorkerSettings>;
}

/** The job table (docs/contract.md section 2): fixed, not a setting. */
export const JOBS_TABLE = 'thumbnailjobs';

/** The poison queue of a request queue: where the host and the worker put what cannot be done. */
export const poisonQueueName = (queue: string): string => `${queue}-poison`;

// Azure's name rules, for every place that names a container or a queue (settings, deploy flags).
/** Container names: 3-63 chars, lowercase letters, digits and single hyphens. */
export const CONTAINER_NAME = z.string().regex(/^(?=.{3,63}$)[a-z0-9]+(-[a-z0-9]+)*$/, {
  message: 'must be 3-63 lowercase letters, digits or hyphens',
});
/** Queue names follow the same rule; the poison queue adds 7 characters, so leave room for them. */
export const QUEUE_NAME = z.string().regex(/^(?=.{3,56}$)[a-z0-9]+(-[a-z0-9]+)*$/, {
  message: 'must be 3-56 lowercase letters, digits or hyphens',
});
/** A storage account name, as `AzureWebJobsStorage__accountName` (or a deploy flag) gives it. */
export const STORAGE_ACCOUNT_NAME = z.string().regex(/^[a-z0-9]{3,24}$/, {
  message: 'must be a storage account name (3-24 lowercase letters or digits)',
});
const containerName = CONTAINER_NAME;
const queueName = QUEUE_NAME;

const intFromEnv = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

const schema = z.object({
  AzureWebJobsStorage: z.string().min(1).optional(),
  AzureWebJobsStorage__accountName: STORAGE_ACCOUNT_NAME.optional(),
  AzureWebJobsStorage__blobServiceUri: z.url().optional(),
  AzureWebJobsStorage__queueServiceUri: z.url().optional(),
  AzureWebJobsStorage__tableServiceUri: z.url().optional(),
  VIDEOCONTAINER: containerName.default('videos'),
  THUMBNAILCONTAINER: containerName.default('thumbnails'),
  THUMBNAIL_QUEUE: queueName.default('thumbnail-requests'),
  THUMBNAILER_PORT: intFromEnv(0, 65535).default(7071),
  THUMBNAILER_HOST: z.string().min(1).default('127.0.0.1'),
  THUMBNAILER_API_TOKEN: z.string().min(1).optional(),
  THUMBNAILER_ALLOW_OPEN: z.enum(['0', '1', 'false', 'true']).optional(),
  THUMBNAILER_MAX_UPLOAD_BYTES: intFromEnv(1, Number.MAX_SAFE_INTEGER).default(4 * 1024 ** 3),
  THUMBNAIL_LAYOUT: z.enum(['default', 'seed']).optional(),
  THUMBNAILER_LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
    .default('info'),
  THUMBNAILER_CONCURRENCY: intFromEnv(1, 64).default(2),
  THUMBNAILER_VISIBILITY_TIMEOUT: intFromEnv(2, 7 * 24 * 3600).default(60),
  THUMBNAILER_MAX_DELIVERIES: intFromEnv(1, 100).default(5),
  THUMBNAILER_RETRY_BASE_MS: intFromEnv(0, 3_600_000).default(2000),
  THUMBNAILER_RETRY_MAX_MS: intFromEnv(0, 6 * 3_600_000).default(300_000),
  THUMBNAILER_POLL_INTERVAL_MS: intFromEnv(50, 60_000).default(1000),
  THUMBNAILER_SHUTDOWN_GRACE_MS: intFromEnv(0, 3_600_000).default(25_000),
  THUMBNAILER_JOB_TIMEOUT_MS: intFromEnv(1000, 24 * 3_600_000).default(60 * 60_000),
  THUMBNAILER_TEMP_DIR: z.string().min(1).optional(),
  THUMBNAILER_FFMPEG_TIMEOUT_MS: intFromEnv(1000, 24 * 3_600_000).optional(),
  THUMBNAILER_FFMPEG_STALL_MS: intFromEnv(1000, 3_600_000).optional(),
  THUMBNAILER_EVENTS_QUEUE: queueName.optional(),
  THUMBNAILER_WEBHOOK_URL: z.string().min(1).optional(),
  THUMBNAILER_WEBHOOK_SECRET: z.string().min(1).optional(),
  THUMBNAILER_WEBHOOK_ATTEMPTS: intFromEnv(1, 10).default(5),
  THUMBNAILER_WEBHOOK_TIMEOUT_MS: intFromEnv(100, 120_000).default(10_000),
  THUMBNAILER_WEBHOOK_RETRY_BASE_MS: intFromEnv(0, 60_000).default(1000),
  THUMBNAILER_MAX_INPUT_BYTES: intFromEnv(1, Number.MAX_SAFE_INTEGER).optional(),
  THUMBNAILER_MAX_DURATION_SECONDS: intFromEnv(1, 30 * 24 * 3600).optional(),
  THUMBNAILER_MAX_PIXELS: intFromEnv(1, 2 ** 31 - 1).optional(),
  THUMBNAILER_MAX_TEMP_BYTES: intFromEnv(1, Number.MAX_SAFE_INTEGER).optional(),
  THUMBNAILER_FFMPEG_THREADS: intFromEnv(1, 64).optional(),
});

/**
 * Every setting's environment variable, by its own name: `ENV.THUMBNAIL_QUEUE` is
 * `'THUMBNAIL_QUEUE'`. Code that writes settings for another process (the deploy templates) names
 * them through this, so a misspelt or retired name fails the build instead of being ignored.
 */
export const ENV = Object.fromEntries(Object.keys(schema.shape).map((name) => [name, name])) as {
  readonly [Name in keyof typeof schema.shape]: Name;
};

/** The environment's defaults, as a process without any of these variables reads them. */
export const ENV_DEFAULTS: Readonly<z.output<typeof schema>> = schema.parse({});

/** Hosts a webhook may reach over plain http: this machine only. */
export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.toLowerCase();
  return (
    h === 'localhost' ||
    h.endsWith('.localhost') ||
    h === '[::1]' ||
    /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h)
  );
}

/**
 * Why a webhook URL is refused, or undefined when it is allowed: https, or http to a loopback
 * host; no credentials in the URL. The reason never quotes the URL (its query may hold a key).
 */
export function webhookUrlProblem(raw: string): string | undefined {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'is not a URL';
  }
  if (url.username || url.password) return 'must not carry credentials (user:password@)';
  if (url.protocol === 'https:') return undefined;
  if (url.protocol === 'http:')
    return isLoopbackHost(url.hostname) ? undefined : 'must use https (http only for loopback hosts)';
  return 'must be an https URL';
}

/** `whsec_` followed by base64 of 24 to 64 random bytes, the Standard Webhooks secret format. */
function webhookSecretProblem(secret: string): string | undefined {
  const m = /^whsec_([A-Za-z0-9+/]+={0,2})$/.exec(secret);
  if (!m) return 'must be whsec_ followed by base64';
  const bytes = Buffer.from(m[1]!, 'base64').length;
  return bytes >= 24 && bytes <= 64 ? undefined : 'must hold 24 to 64 bytes of key (base64 after whsec_)';
}

/**
 * A setting (or the flag standing for it) is wrong: `E_OPTION_INVALID`, the message naming the
 * variable. A host for which settings are the operator's, not the caller's, says so itself (the
 * Functions host answers E_INTERNAL).
 */
function settingError(message: string): ThumbnailerError {
  return new ThumbnailerError('E_OPTION_INVALID', message);
}

function identityUri(
  explicit: string | undefined,
  account: string,
  service: 'blob' | 'queue' | 'table',
): string {
  return (explicit ?? `https://${account}.${service}.core.windows.net`).replace(/\/+$/, '');
}

/** Reads the settings; flags win over the environment. Throws E_OPTION_INVALID naming the bad one. */
export function loadSettings(
  overrides: SettingsOverrides = {},
  env: NodeJS.ProcessEnv = process.env,
): Settings {
  const input: Record<string, unknown> = {};
  for (const key of Object.keys(schema.shape)) {
    const value = env[key];
    if (value !== undefined && value !== '') input[key] = value;
  }
  const result = schema.safeParse(input);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw settingError(`Invalid setting ${issue.path.join('.')}: ${issue.message}`);
  }
  const e = result.data;

  let storage: StorageConnection | undefined;
  const connectionString = overrides.connectionString ?? e.AzureWebJobsStorage;
  if (connectionString) {
    storage = { kind: 'connectionString', connectionString };
  } else if (e.AzureWebJobsStorage__accountName) {
    const account = e.AzureWebJobsStorage__accountName;
    storage = {
      kind: 'identity',
      accountName: account,
      blobServiceUri: identityUri(e.AzureWebJobsStorage__blobServiceUri, account, 'blob'),
      queueServiceUri: identityUri(e.AzureWebJobsStorage__queueServiceUri, account, 'queue'),
      tableServiceUri: identityUri(e.AzureWebJobsStorage__tableServiceUri, account, 'table'),
    };
  }

  const check = <T>(name: string, parser: z.ZodType<T>, value: unknown): T => {
    const r = parser.safeParse(value);
    if (!r.success) throw settingError(`Invalid setting ${name}: ${r.error.issues[0]!.message}`);
    return r.data;
  };
  const videoContainer = check(
    '--video-container',
    containerName,
    overrides.videoContainer ?? e.VIDEOCONTAINER,
  );
  const thumbnailContainer = check(
    '--thumbnail-container',
    containerName,
    overrides.thumbnailContainer ?? e.THUMBNAILCONTAINER,
  );
  const queue = check('--queue', queueName, overrides.queueName ?? e.THUMBNAIL_QUEUE);
  if (videoContainer === thumbnailContainer) {
    throw settingError('Invalid setting THUMBNAILCONTAINER: must differ from VIDEOCONTAINER');
  }

  const events: EventSettings = {};
  if (e.THUMBNAILER_EVENTS_QUEUE) {
    if (e.THUMBNAILER_EVENTS_QUEUE === queue || e.THUMBNAILER_EVENTS_QUEUE === poisonQueueName(queue))
      throw settingError(
        'Invalid setting THUMBNAILER_EVENTS_QUEUE: must differ from the request queue and its poison queue',
      );
    events.queueName = e.THUMBNAILER_EVENTS_QUEUE;
  }
  if (e.THUMBNAILER_WEBHOOK_URL || e.THUMBNAILER_WEBHOOK_SECRET) {
    if (!e.THUMBNAILER_WEBHOOK_URL)
      throw settingError('Invalid setting THUMBNAILER_WEBHOOK_URL: required with THUMBNAILER_WEBHOOK_SECRET');
    if (!e.THUMBNAILER_WEBHOOK_SECRET)
      throw settingError(
        'Invalid setting THUMBNAILER_WEBHOOK_SECRET: required with THUMBNAILER_WEBHOOK_URL (events are always signed)',
      );
    const urlProblem = webhookUrlProblem(e.THUMBNAILER_WEBHOOK_URL);
    if (urlProblem) throw settingError(`Invalid setting THUMBNAILER_WEBHOOK_URL: ${urlProblem}`);
    const secretProblem = webhookSecretProblem(e.THUMBNAILER_WEBHOOK_SECRET);
    if (secretProblem) throw settingError(`Invalid setting THUMBNAILER_WEBHOOK_SECRET: ${secretProblem}`);
    events.webhook = {
      url: e.THUMBNAILER_WEBHOOK_URL,
      secret: e.THUMBNAILER_WEBHOOK_SECRET,
      attempts: e.THUMBNAILER_WEBHOOK_ATTEMPTS,
      timeoutMs: e.THUMBNAILER_WEBHOOK_TIMEOUT_MS,
      retryBaseMs: e.THUMBNAILER_WEBHOOK_RETRY_BASE_MS,
    };
  }

  const w = overrides.worker ?? {};
  const worker: WorkerSettings = {
    concurrency: check('--concurrency', intFromEnv(1, 64), w.concurrency ?? e.THUMBNAILER_CONCURRENCY),
    visibilityTimeoutSeconds: w.visibilityTimeoutSeconds ?? e.THUMBNAILER_VISIBILITY_TIMEOUT,
    maxDeliveries: w.maxDeliveries ?? e.THUMBNAILER_MAX_DELIVERIES,
    retryBaseMs: w.retryBaseMs ?? e.THUMBNAILER_RETRY_BASE_MS,
    retryMaxMs: w.retryMaxMs ?? e.THUMBNAILER_RETRY_MAX_MS,
    pollIntervalMs: w.pollIntervalMs ?? e.THUMBNAILER_POLL_INTERVAL_MS,
    shutdownGraceMs: w.shutdownGraceMs ?? e.THUMBNAILER_SHUTDOWN_GRACE_MS,
    jobTimeoutMs: w.jobTimeoutMs ?? e.THUMBNAILER_JOB_TIMEOUT_MS,
    tempDir: w.tempDir ?? e.THUMBNAILER_TEMP_DIR ?? tmpdir(),
    ffmpegTimeoutMs: w.ffmpegTimeoutMs ?? e.THUMBNAILER_FFMPEG_TIMEOUT_MS,
    ffmpegStallTimeoutMs: w.ffmpegStallTimeoutMs ?? e.THUMBNAILER_FFMPEG_STALL_MS,
    maxInputBytes: w.maxInputBytes ?? e.THUMBNAILER_MAX_INPUT_BYTES,
    maxDurationSeconds: w.maxDurationSeconds ?? e.THUMBNAILER_MAX_DURATION_SECONDS,
    maxPixels: w.maxPixels ?? e.THUMBNAILER_MAX_PIXELS,
    maxTempBytes: w.maxTempBytes ?? e.THUMBNAILER_MAX_TEMP_BYTES,
    ffmpegThreads: w.ffmpegThreads ?? e.THUMBNAILER_FFMPEG_THREADS,
  };

  return {
    storage,
    videoContainer,
    thumbnailContainer,
    queueName: queue,
    poisonQueueName: poisonQueueName(queue),
    jobsTable: JOBS_TABLE,
    port: check('--port', intFromEnv(0, 65535), overrides.port ?? e.THUMBNAILER_PORT),
    host: overrides.host ?? e.THUMBNAILER_HOST,
    apiToken: overrides.apiToken ?? e.THUMBNAILER_API_TOKEN,
    allowOpen: overrides.allowOpen ?? ['1', 'true'].includes(e.THUMBNAILER_ALLOW_OPEN ?? ''),
    maxUploadBytes: overrides.maxUploadBytes ?? e.THUMBNAILER_MAX_UPLOAD_BYTES,
    layout: overrides.layout ?? e.THUMBNAIL_LAYOUT,
    logLevel: overrides.logLevel ?? e.THUMBNAILER_LOG_LEVEL,
    worker,
    events,
  };
}
