import { randomBytes } from 'node:crypto';
import { startEmulator, type Emulator } from '../../src/adapters/emulator.js';
import { poisonQueueName, type EmulatorPorts } from '../../src/config.js';

/**
 * Azurite for the tests. `npm test` (scripts/run-tests.mjs) starts one emulator for the whole run
 * and passes its connection string in THUMBNAILER_TEST_AZURITE; each test file then keeps to names
 * of its own (`names()`: containers, queues and a job table with a random suffix), so files never
 * see each other's videos, messages or jobs, even when they run at the same time. A file run on its
 * own (`node --import tsx --test test/x.test.ts`) starts an emulator of its own instead.
 */
export const SHARED_AZURITE = 'THUMBNAILER_TEST_AZURITE';

/** The storage names a test works in; spread into `testSettings` overrides. */
export interface StorageNames {
  videoContainer: string;
  thumbnailContainer: string;
  queueName: string;
  jobsTable: string;
}

export interface TestAzurite {
  connectionString: string;
  ports: EmulatorPorts;
  /** True on the run's shared emulator: `stop()` then only removes what `names()` gave out. */
  shared: boolean;
  /** Fresh names no other test uses. `label` (lowercase letters, digits) makes them readable. */
  names(label?: string): StorageNames;
  stop(): Promise<void>;
}

/**
 * Starts an emulator on free loopback ports, in memory, telemetry off. Retries when a port picked
 * as free was taken meanwhile by a concurrently starting emulator.
 */
export async function startEmulatorForTests(): Promise<Emulator> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 4; attempt++) {
    try {
      return await startEmulator({ ports: 'free', inMemory: true, startTimeoutMs: 30_000 });
    } catch (error) {
      lastError = error;
    }
  }
  throw lastError;
}

function portsOf(connectionString: string): EmulatorPorts {
  const port = (service: string) => {
    const match = new RegExp(`${service}Endpoint=https?://[^:/;]+:(\\d+)`, 'i').exec(connectionString);
    if (!match) throw new Error(`${SHARED_AZURITE} names no ${service} endpoint`);
    return Number(match[1]);
  };
  return { blob: port('Blob'), queue: port('Queue'), table: port('Table') };
}

/**
 * The run's shared emulator when there is one, else an emulator of this file's own. `own: true`
 * asks for one of its own anyway, for a file that stops it, restarts it, or needs the account empty.
 */
export async function startAzurite(options: { own?: boolean } = {}): Promise<TestAzurite> {
  const given = options.own ? undefined : process.env[SHARED_AZURITE];
  const emulator = given ? undefined : await startEmulatorForTests();
  const connectionString = given ?? emulator!.connectionString;
  const named: StorageNames[] = [];
  return {
    connectionString,
    ports: emulator?.ports ?? portsOf(connectionString),
    shared: emulator === undefined,
    names(label = 't') {
      const suffix = randomBytes(5).toString('hex');
      const names = {
        videoContainer: `${label}-videos-${suffix}`,
        thumbnailContainer: `${label}-thumbs-${suffix}`,
        queueName: `${label}-requests-${suffix}`,
        // Table names: letters and digits only, starting with a letter.
        jobsTable: `jobs${label.replace(/[^a-z0-9]/g, '')}${suffix}`,
      };
      named.push(names);
      return names;
    },
    async stop() {
      if (emulator) return emulator.stop();
      await removeNamed(connectionString, named);
    },
  };
}

/** What a file made on the shared emulator goes with it, so the emulator's memory stays small. */
async function removeNamed(connectionString: string, named: StorageNames[]): Promise<void> {
  if (named.length === 0) return;
  const [{ BlobServiceClient }, { QueueServiceClient }, { TableServiceClient }] = await Promise.all([
    import('@azure/storage-blob'),
    import('@azure/storage-queue'),
    import('@azure/data-tables'),
  ]);
  const blobs = BlobServiceClient.fromConnectionString(connectionString);
  const queues = QueueServiceClient.fromConnectionString(connectionString);
  const tables = TableServiceClient.fromConnectionString(connectionString, { allowInsecureConnection: true });
  const gone = () => undefined; // never made, or already removed by the test
  await Promise.all(
    named.flatMap((n) => [
      blobs.deleteContainer(n.videoContainer).catch(gone),
      blobs.deleteContainer(n.thumbnailContainer).catch(gone),
      queues.deleteQueue(n.queueName).catch(gone),
      queues.deleteQueue(poisonQueueName(n.queueName)).catch(gone),
      tables.deleteTable(n.jobsTable).catch(gone),
    ]),
  );
}
