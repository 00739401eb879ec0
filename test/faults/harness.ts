/**
 * The fault suite's shared rig: Azurite under a recognisable custom account, a cuttable TCP proxy
 * in front of its three services, a canary HTTP server and canary file, real `thumbnailer worker`
 * processes with their own TMPDIR and JSON log file, and helpers to read back what they did.
 * Everything listens on 127.0.0.1.
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import {
  AccountSASPermissions,
  AccountSASResourceTypes,
  AccountSASServices,
  SASProtocol,
  StorageSharedKeyCredential,
  generateAccountSASQueryParameters,
} from '@azure/storage-blob';
import type { Emulator } from '../../src/adapters/emulator.js';
import { createStorage, type Storage } from '../../src/adapters/storage.js';
import { loadSettings, type EmulatorPorts } from '../../src/config.js';
import { startTcpProxy, type TcpProxy } from './tcp-proxy.js';
import { startEmulatorForTests } from '../support/azurite.js';
import { ROOT, spawnWorker, workerEnv, type WorkerProcess } from '../support/worker.js';

export { ROOT };

export interface Account {
  name: string;
  key: string;
  /** Key-based connection string through the proxy (what workers use). */
  viaProxy: string;
  /** Account SAS connection string through the proxy (what some workers use). */
  sasViaProxy: string;
  /** The SAS signature (sig=) value, decoded: must never appear anywhere. */
  sasSignature: string;
  sas: string;
  /** Direct to Azurite: the suite's own admin connection, unaffected by the proxy. */
  direct: string;
}

export interface Rig {
  soak: boolean;
  root: string;
  account: Account;
  emulator: Emulator;
  proxies: TcpProxy[];
  canary: { port: number; hits: string[]; file: string; token: string; close(): Promise<void> };
  /** Every worker ever started, for the secrets scan. */
  workers: WorkerProc[];
  nextWorker: number;
}

const HOST = '127.0.0.1';

function connectionString(account: string, ports: EmulatorPorts, secret: string): string {
  return [
    'DefaultEndpointsProtocol=http',
    `AccountName=${account}`,
    secret,
    `BlobEndpoint=http://${HOST}:${ports.blob}/${account}`,
    `QueueEndpoint=http://${HOST}:${ports.queue}/${account}`,
    `TableEndpoint=http://${HOST}:${ports.table}/${account}`,
  ].join(';');
}

export async function startRig(root: string, soak: boolean): Promise<Rig> {
  // A key anyone would recognise in a log: "FAULTSUITESECRETKEY..." in base64.
  const name = 'faultacct';
  const key = Buffer.concat([Buffer.from('FAULTSUITE-SECRET-KEY-'), randomBytes(42)]).toString('base64');
  // An emulator of the suite's own: it serves this account only, and its proxies are cut for outages.
  process.env.AZURITE_ACCOUNTS = `${name}:${key}`;
  const emulator = await startEmulatorForTests().finally(() => delete process.env.AZURITE_ACCOUNTS);
  const proxies = await Promise.all(
    [emulator.ports.blob, emulator.ports.queue, emulator.ports.table].map((p) => startTcpProxy(p)),
  );
  const proxied = { blob: proxies[0]!.port, queue: proxies[1]!.port, table: proxies[2]!.port };
  const sas = generateAccountSASQueryParameters(
    {
      expiresOn: new Date(Date.now() + 6 * 3600_000),
      permissions: AccountSASPermissions.parse('rwdlacup'),
      resourceTypes: AccountSASResourceTypes.parse('sco').toString(),
      services: AccountSASServices.parse('bqt').toString(),
      protocol: SASProtocol.HttpsAndHttp,
    },
    new StorageSharedKeyCredential(name, key),
  ).toString();
  const sasSignature = decodeURIComponent(/(?:^|&)sig=([^&]+)/.exec(sas)![1]!);
  const account: Account = {
    name,
    key,
    sas,
    sasSignature,
    viaProxy: connectionString(name, proxied, `AccountKey=${key}`),
    sasViaProxy: connectionString(name, proxied, `SharedAccessSignature=${sas}`).replace(
      /^DefaultEndpointsProtocol=http;AccountName=[^;]+;/,
      '',
    ),
    direct: connectionString(name, emulator.ports, `AccountKey=${key}`),
  };

  const token = `CANARY-${randomBytes(12).toString('hex')}`;
  const file = join(root, 'canary', 'secret.txt');
  await mkdir(join(root, 'canary'), { recursive: true });
  await writeFile(file, `${token}\n`);
  const hits: string[] = [];
  const server: HttpServer = createHttpServer((req, res) => {
    hits.push(`${req.method} ${req.url}`);
    res.writeHead(200, { 'content-type': 'video/mp2t' });
    res.end(token);
  });
  server.listen(0, HOST);
  await once(server, 'listening');
  const canary = {
    port: (server.address() as AddressInfo).port,
    hits,
    file,
    token,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
  return { soak, root, account, emulator, proxies, canary, workers: [], nextWorker: 0 };
}

export async function stopRig(rig: Rig): Promise<void> {
  for (const w of rig.workers) if (w.alive) w.child.kill('SIGKILL');
  await Promise.all(rig.proxies.map((p) => p.close()));
  await rig.canary.close();
  await rig.emulator.stop();
}

export interface Names {
  videoContainer: string;
  thumbnailContainer: string;
  queueName: string;
}

export function namesFor(scenario: string): Names {
  return {
    videoContainer: `${scenario}-videos`,
    thumbnailContainer: `${scenario}-thumbs`,
    queueName: `${scenario}-requests`,
  };
}

/** The suite's own storage client, straight to Azurite (works during a proxy outage). */
export async function adminStorage(rig: Rig, names: Names): Promise<Storage> {
  const storage = await createStorage(loadSettings({ connectionString: rig.account.direct, ...names }, {}));
  await storage.ensure();
  return storage;
}

export interface WorkerProc extends WorkerProcess {
  id: string;
  log: string;
  tempDir: string;
  /** Connected with the account SAS rather than the key. */
  sas: boolean;
  /** Peak resident memory (VmHWM, KiB), read from /proc while alive. */
  peakKiB(): number | undefined;
}

export interface WorkerSpec {
  names: Names;
  /** Stable id: restarts reuse it (same TMPDIR, same log file). */
  id: string;
  concurrency?: number;
  env?: NodeJS.ProcessEnv;
  /** Connect with the account SAS instead of the key. */
  sas?: boolean;
}

/** Starts a real `thumbnailer worker` process; JSON logs append to `<root>/logs/<id>.log`. */
export async function startWorker(rig: Rig, spec: WorkerSpec): Promise<WorkerProc> {
  const tempDir = join(rig.root, 'tmp', spec.id);
  const logDir = join(rig.root, 'logs');
  await mkdir(tempDir, { recursive: true });
  await mkdir(logDir, { recursive: true });
  const log = join(logDir, `${spec.id}.log`);
  const connection = spec.sas ? rig.account.sasViaProxy : rig.account.viaProxy;
  const env = workerEnv(connection, spec.names, {
    TMPDIR: tempDir,
    THUMBNAILER_TEMP_DIR: tempDir,
    THUMBNAILER_POLL_INTERVAL_MS: '200',
    THUMBNAILER_RETRY_BASE_MS: '500',
    THUMBNAILER_RETRY_MAX_MS: '2000',
    THUMBNAILER_VISIBILITY_TIMEOUT: '6',
    THUMBNAILER_SHUTDOWN_GRACE_MS: '5000',
    ...spec.env,
  });
  // The built CLI, as production runs it (`npm run test:faults` builds first): memory and
  // start-up are measured without a TypeScript loader in the process.
  const worker = spawnWorker({ env, concurrency: spec.concurrency, built: true, logFile: log });
  const proc: WorkerProc = {
    ...worker,
    id: spec.id,
    log,
    tempDir,
    sas: spec.sas ?? false,
    get alive() {
      return worker.alive;
    },
    peakKiB() {
      try {
        const status = readFileSync(`/proc/${proc.pid}/status`, 'utf8');
        const m = /VmHWM:\s+(\d+) kB/.exec(status);
        return m ? Number(m[1]) : undefined;
      } catch {
        return undefined;
      }
    },
  };
  rig.workers.push(proc);
  return proc;
}

/** SIGTERM, wait (bounded), SIGKILL if it did not go. */
export async function stopWorker(w: WorkerProc, timeoutMs = 30_000): Promise<number | null> {
  if (!w.alive) return (await w.exit).code;
  w.child.kill('SIGTERM');
  const timer = setTimeout(() => w.child.kill('SIGKILL'), timeoutMs);
  const { code } = await w.exit;
  clearTimeout(timer);
  return code;
}

export type LogLine = Record<string, unknown> & { level?: number; msg?: string; pid?: number; time?: string };

/** Parsed JSON lines of a log file (non-JSON lines come back as `{ raw }`). */
export function readLog(path: string): LogLine[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => {
      try {
        return JSON.parse(l) as LogLine;
      } catch {
        return { raw: l } as LogLine;
      }
    });
}

export { waitFor } from '../support/worker.js';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Files left under a directory (recursively), as relative paths. */
export async function filesUnder(dir: string): Promise<string[]> {
  if (!existsSync(dir)) return [];
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.map((e) =>
    join(e.parentPath ?? (e as unknown as { path: string }).path, e.name).slice(dir.length + 1),
  );
}

/** Every message of a queue, decoded when base64, without taking them for long. */
export async function drainPeek(storage: Storage, which: 'queue' | 'poison'): Promise<string[]> {
  const q = which === 'queue' ? storage.queue : storage.poison;
  const out: string[] = [];
  for (const text of await q.peek(32)) out.push(text);
  return out;
}

export function decodeMaybeBase64(text: string): string {
  const t = text.trim();
  if (/^[A-Za-z0-9+/]+={0,2}$/.test(t) && t.length % 4 === 0) {
    const s = Buffer.from(t, 'base64').toString('utf8');
    if (!s.includes('\uFFFD')) return s;
  }
  return text;
}

/** Every poison message of the scenario, decoded, parsed when JSON. */
export async function poisonMessages(
  storage: Storage,
): Promise<{ text: string; body?: Record<string, unknown> }[]> {
  const out: { text: string; body?: Record<string, unknown> }[] = [];
  const seen = new Set<string>();
  // Peek shows at most 32; receive with a short visibility to page through, then let them reappear.
  const taken: { id: string; popReceipt: string }[] = [];
  for (;;) {
    const batch = await storage.poison.receive(32, 30);
    const fresh = batch.filter((m) => !seen.has(m.id));
    if (fresh.length === 0) break;
    for (const m of fresh) {
      taken.push(m);
      seen.add(m.id);
      const text = decodeMaybeBase64(m.text);
      let body: Record<string, unknown> | undefined;
      try {
        body = JSON.parse(text) as Record<string, unknown>;
      } catch {
        body = undefined;
      }
      out.push({ text: m.text + '\n' + text, body });
    }
  }
  // Visible again at once, for the next reader.
  await Promise.all(taken.map((m) => storage.poison.setVisibility(m.id, m.popReceipt, 0)));
  return out;
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export class Check {
  readonly failures: string[] = [];
  ok(condition: unknown, message: string): void {
    if (!condition) this.failures.push(message);
  }
  equal<T>(actual: T, expected: T, message: string): void {
    if (actual !== expected)
      this.failures.push(`${message}: got ${String(actual)}, expected ${String(expected)}`);
  }
}
