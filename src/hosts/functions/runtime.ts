import type { InvocationContext } from '@azure/functions';
import type { DestinationStream } from 'pino';
import { loadSettings, type Settings } from '../../config.js';
import { createStorage, type Storage } from '../../adapters/storage.js';
import type { GenerateRequest, Manifest } from '../../engine/types.js';
import { ThumbnailerError, asThumbnailerError } from '../../errors.js';
import { jobDepsFrom } from '../../jobs/deps.js';
import type { JobDeps } from '../../jobs/types.js';
import { createLogger, type Logger } from '../../logger.js';
import { completionEventsFrom, type CompletionEvents } from '../../jobs/events/publisher.js';
import { sweepStaleTempFolders } from '../../engine/temp.js';
import { readHostConfig, type HostQueueConfig } from './host-config.js';

/**
 * What every invocation in this worker process shares: settings, storage clients (created once, on
 * first use) and the host.json facts. Nothing here talks to storage until an invocation needs it,
 * so a cold start costs no round trip and a storage outage at start-up does not break the app.
 */
export interface FunctionsRuntime {
  settings: Settings;
  storage: Storage;
  host: HostQueueConfig;
  generate: (request: GenerateRequest) => Promise<Manifest>;
  /** Process-level log lines (start-up, shutdown): the worker's stdout, which the host collects. */
  logger: Logger;
  /** Completion events, shared by every invocation (the events queue is created once). */
  events?: CompletionEvents;
}

let runtime: Promise<FunctionsRuntime> | undefined;
let ensured: Promise<void> | undefined;

async function create(): Promise<FunctionsRuntime> {
  let settings: Settings;
  let host: HostQueueConfig;
  try {
    settings = loadSettings();
    host = readHostConfig();
  } catch (error) {
    // A wrong app setting or host.json is the operator's to fix: an internal error, never the
    // client's fault.
    throw new ThumbnailerError('E_INTERNAL', asThumbnailerError(error).message, { cause: error });
  }
  if (!settings.storage) {
    // The Functions host itself cannot start without AzureWebJobsStorage, so this is a misconfiguration.
    throw new ThumbnailerError(
      'E_STORAGE_UNAVAILABLE',
      'No storage is configured: set AzureWebJobsStorage, or AzureWebJobsStorage__accountName for an identity-based connection',
    );
  }
  const logger = createLogger({ level: settings.logLevel, base: { host: 'functions', pid: process.pid } });
  const [storage, { generate }] = await Promise.all([
    createStorage(settings),
    import('../../engine/generate.js'),
  ]);
  const events = completionEventsFrom(settings, storage);
  // Temporary folders of a worker process that was killed (the host recycles processes): before
  // this process makes any of its own.
  const swept = await sweepStaleTempFolders(settings.worker.tempDir);
  if (swept.length > 0)
    logger.info({ folders: swept.length }, 'removed temporary folders left by a stopped process');
  return { settings, storage, host, generate, logger, events };
}

/** The runtime, created once per process; a failed creation is retried by the next call. */
export function getRuntime(): Promise<FunctionsRuntime> {
  runtime ??= create().catch((error: unknown) => {
    runtime = undefined;
    throw error;
  });
  return runtime;
}

/**
 * Creates the containers, queues and table when missing, once per process. Best effort, and not
 * retried: with identity-based access the roles may allow data access but not creation, and the
 * resources usually exist already (docs/azure.md creates them), so a failure is logged, not fatal;
 * a job that then misses a container fails with a clear storage error of its own.
 */
export function ensureResources(rt: FunctionsRuntime): Promise<void> {
  ensured ??= rt.storage.ensure().catch((error: unknown) => {
    rt.logger.warn({ err: error }, 'could not create the containers, queues or table; assuming they exist');
  });
  return ensured;
}

const LEVELS: [number, 'error' | 'warn' | 'info' | 'debug' | 'trace'][] = [
  [50, 'error'],
  [40, 'warn'],
  [30, 'info'],
  [20, 'debug'],
  [0, 'trace'],
];

/**
 * A pino destination writing each JSON line through the invocation's context, so the shared job
 * code's structured logs reach Application Insights correlated with the invocation.
 */
export function contextDestination(
  context: Pick<InvocationContext, 'error' | 'warn' | 'info' | 'debug' | 'trace'>,
): DestinationStream {
  return {
    write(line: string) {
      const level = Number(/"level":(\d+)/.exec(line)?.[1] ?? 30);
      const method = LEVELS.find(([min]) => level >= min)![1];
      context[method](line.trimEnd());
    },
  };
}

/** The shared job handler's dependencies for one invocation, logging through its context. */
export function invocationDeps(rt: FunctionsRuntime, context: InvocationContext): JobDeps {
  const logger = createLogger({
    level: rt.settings.logLevel,
    destination: contextDestination(context),
    base: { host: 'functions', invocationId: context.invocationId },
  });
  return {
    ...jobDepsFrom(rt.settings, rt.storage, logger, rt.generate),
    // The host delivers at most maxDequeueCount times: the last delivery is the one to poison.
    maxDeliveries: rt.host.maxDequeueCount,
    events: rt.events,
  };
}
