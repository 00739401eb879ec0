import type { TokenCredential } from '@azure/identity';
import type { Settings, StorageConnection } from '../config.js';
import { devConnectionString } from '../config.js';
import { ThumbnailerError } from '../errors.js';
import { BlobStore } from './blobs.js';
import { JobTable } from './jobs.js';
import { MessageQueue } from './queue.js';

/** Everything the service keeps in one storage account. */
export interface Storage {
  accountName: string;
  blobs: BlobStore;
  queue: MessageQueue;
  poison: MessageQueue;
  jobs: JobTable;
  /** Another queue of the same account (the completion events queue). */
  queueNamed(name: string): MessageQueue;
  videoContainer: string;
  thumbnailContainer: string;
  /** Creates the containers, the queue, its poison queue and the table when missing. */
  ensure(): Promise<void>;
  /** Cheap round trips to the three services; throws the first failure. */
  ping(signal?: AbortSignal): Promise<void>;
}

export interface CreateStorageOptions {
  /** For identity-based connections; DefaultAzureCredential when absent. */
  credential?: TokenCredential;
}

/**
 * SDK-level retries stay short: the worker has its own backoff (and the queue's redelivery), so an
 * outage should surface within seconds rather than hang a receive for minutes.
 */
const STORAGE_RETRY = { maxTries: 3, retryDelayInMs: 300, maxRetryDelayInMs: 3000, tryTimeoutInMs: 120_000 };
const TABLE_RETRY = { maxRetries: 2, retryDelayInMs: 300, maxRetryDelayInMs: 3000 };

function normaliseConnectionString(cs: string): string {
  return /^\s*UseDevelopmentStorage=true\s*;?\s*$/i.test(cs) ? devConnectionString() : cs;
}

/** Reads `AccountName=` without keeping anything else of the string around. */
function accountNameOf(cs: string): string | undefined {
  return /(?:^|;)\s*AccountName=([^;]+)/i.exec(cs)?.[1]?.trim();
}

/**
 * Builds the adapters from the settings: a connection string (key or SAS), or an identity-based
 * connection through DefaultAzureCredential, named as the Azure Functions conventions name them.
 * SDK modules load here, not at CLI start-up.
 */
export async function createStorage(
  settings: Pick<
    Settings,
    'storage' | 'videoContainer' | 'thumbnailContainer' | 'queueName' | 'poisonQueueName' | 'jobsTable'
  >,
  options: CreateStorageOptions = {},
): Promise<Storage> {
  const connection: StorageConnection | undefined = settings.storage;
  if (!connection) {
    throw new ThumbnailerError(
      'E_STORAGE_UNAVAILABLE',
      'No storage is configured: set AzureWebJobsStorage (or AzureWebJobsStorage__accountName), or run `thumbnailer start` for the embedded emulator',
    );
  }
  const [{ BlobServiceClient }, { QueueServiceClient }, { TableClient }] = await Promise.all([
    import('@azure/storage-blob'),
    import('@azure/storage-queue'),
    import('@azure/data-tables'),
  ]);
  let blobService: InstanceType<typeof BlobServiceClient>;
  let queueService: InstanceType<typeof QueueServiceClient>;
  let table: InstanceType<typeof TableClient>;
  let accountName: string;
  if (connection.kind === 'connectionString') {
    const cs = normaliseConnectionString(connection.connectionString);
    try {
      blobService = BlobServiceClient.fromConnectionString(cs, { retryOptions: STORAGE_RETRY });
      queueService = QueueServiceClient.fromConnectionString(cs, { retryOptions: STORAGE_RETRY });
      table = TableClient.fromConnectionString(cs, settings.jobsTable, {
        allowInsecureConnection: /BlobEndpoint=http:|DefaultEndpointsProtocol=http;/i.test(cs),
        retryOptions: TABLE_RETRY,
      });
    } catch {
      // The SDK's message may quote the string; ours never does.
      throw new ThumbnailerError(
        'E_OPTION_INVALID',
        'AzureWebJobsStorage is not a valid storage connection string',
      );
    }
    accountName = blobService.accountName || accountNameOf(cs) || '';
  } else {
    const credential = options.credential ?? new (await import('@azure/identity')).DefaultAzureCredential();
    blobService = new BlobServiceClient(connection.blobServiceUri, credential, {
      retryOptions: STORAGE_RETRY,
    });
    queueService = new QueueServiceClient(connection.queueServiceUri, credential, {
      retryOptions: STORAGE_RETRY,
    });
    table = new TableClient(connection.tableServiceUri, settings.jobsTable, credential, {
      retryOptions: TABLE_RETRY,
    });
    accountName = connection.accountName;
  }

  const blobs = new BlobStore(blobService, accountName);
  const queue = new MessageQueue(queueService.getQueueClient(settings.queueName));
  const poison = new MessageQueue(queueService.getQueueClient(settings.poisonQueueName));
  const jobs = new JobTable(table);
  return {
    accountName,
    blobs,
    queue,
    poison,
    jobs,
    queueNamed: (name) => new MessageQueue(queueService.getQueueClient(name)),
    videoContainer: settings.videoContainer,
    thumbnailContainer: settings.thumbnailContainer,
    async ensure() {
      await Promise.all([
        blobs.ensureContainer(settings.videoContainer),
        blobs.ensureContainer(settings.thumbnailContainer),
        queue.ensure(),
        poison.ensure(),
        jobs.ensure(),
      ]);
    },
    async ping(signal) {
      await Promise.all([
        blobs.getProperties(settings.videoContainer, '.ping', { signal }).catch((e: ThumbnailerError) => {
          if (e.code !== 'E_BLOB_NOT_FOUND') throw e;
        }),
        queue.depth({ signal }),
        jobs.get('.ping'),
      ]);
    },
  };
}
