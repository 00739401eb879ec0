import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createConnection, createServer } from 'node:net';
import { dirname, join } from 'node:path';
import type { EmulatorPorts } from '../config.js';
import { DEFAULT_EMULATOR_PORTS, devConnectionString } from '../config.js';
import { ThumbnailerError } from '../errors.js';

export interface EmulatorOptions {
  /** Ports to listen on; `'free'` picks free loopback ports (tests). Default: 10000-10002. */
  ports?: EmulatorPorts | 'free';
  /** Data folder; ignored when `inMemory`. */
  location?: string;
  inMemory?: boolean;
  /** How long to wait for the three services to accept connections. */
  startTimeoutMs?: number;
  /** Where Azurite's own output goes; discarded by default. */
  onOutput?: (line: string) => void;
}

export interface Emulator {
  ports: EmulatorPorts;
  connectionString: string;
  pid: number;
  /** Stops the child (SIGTERM, then SIGKILL after 5 s). Idempotent. */
  stop(): Promise<void>;
}

const HOST = '127.0.0.1';

function azuriteEntry(): string {
  const require = createRequire(import.meta.url);
  let pkgPath: string;
  try {
    pkgPath = require.resolve('azurite/package.json');
  } catch {
    throw new ThumbnailerError(
      'E_STORAGE_UNAVAILABLE',
      'The embedded storage emulator (azurite) is not installed: run `npm install` in the project (it is a development dependency), or set AzureWebJobsStorage to a real storage account',
    );
  }
  const bin = (require(pkgPath) as { bin: Record<string, string> }).bin.azurite!;
  return join(dirname(pkgPath), bin);
}

/** A free TCP port on the loopback interface. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, HOST, () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: HOST, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * Starts Azurite as a child process on 127.0.0.1, telemetry off, and waits until blob, queue and
 * table accept connections. The connection string is the well-known development one (its key is
 * public).
 */
export async function startEmulator(options: EmulatorOptions = {}): Promise<Emulator> {
  const ports =
    options.ports === 'free'
      ? { blob: await freePort(), queue: await freePort(), table: await freePort() }
      : (options.ports ?? DEFAULT_EMULATOR_PORTS);
  for (const port of Object.values(ports)) {
    if (await canConnect(port)) {
      throw new ThumbnailerError(
        'E_STORAGE_UNAVAILABLE',
        `Port ${port} on ${HOST} is already in use, so the embedded storage emulator cannot start: stop what listens there (another \`thumbnailer start\` or Azurite?) or set AzureWebJobsStorage to use it`,
      );
    }
  }
  const args = [
    azuriteEntry(),
    '--silent',
    '--disableTelemetry',
    '--skipApiVersionCheck',
    '--blobHost',
    HOST,
    '--queueHost',
    HOST,
    '--tableHost',
    HOST,
    '--blobPort',
    String(ports.blob),
    '--queuePort',
    String(ports.queue),
    '--tablePort',
    String(ports.table),
  ];
  if (options.inMemory) {
    args.push('--inMemoryPersistence');
  } else {
    const location = options.location ?? join(process.cwd(), '.thumbnailer', 'azurite');
    mkdirSync(location, { recursive: true });
    args.push('--location', location);
  }

  const child: ChildProcess = spawn(process.execPath, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const output: string[] = [];
  const onData = (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (!line.trim()) continue;
      output.push(line);
      if (output.length > 50) output.shift();
      options.onOutput?.(line);
    }
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exitPromise = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      resolve();
    });
  });

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      if (exited) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exitPromise;
      clearTimeout(timer);
    })());

  const deadline = Date.now() + (options.startTimeoutMs ?? 30_000);
  for (;;) {
    if (exited) {
      throw new ThumbnailerError(
        'E_STORAGE_UNAVAILABLE',
        `The storage emulator exited at start-up (code ${exited.code ?? exited.signal}): ${output.slice(-5).join(' | ')}`,
      );
    }
    const up = await Promise.all(Object.values(ports).map((p) => canConnect(p)));
    if (up.every(Boolean)) break;
    if (Date.now() > deadline) {
      await stop();
      throw new ThumbnailerError('E_STORAGE_UNAVAILABLE', 'The storage emulator did not start in time');
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { ports, connectionString: devConnectionString(ports, HOST), pid: child.pid!, stop };
}
