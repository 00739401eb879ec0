import type { FastifyInstance } from 'fastify';
import { Registry } from 'prom-client';
import { createStorage, type Storage } from '../../src/adapters/storage.js';
import type { Settings, SettingsOverrides } from '../../src/config.js';
import { buildApp, type ApiDeps } from '../../src/hosts/http/app.js';
import { createLogger } from '../../src/logger.js';
import { createWorkerRuntime } from '../../src/hosts/worker/runtime.js';
import type { Worker } from '../../src/hosts/worker/worker.js';
import { testSettings } from './worker.js';

export interface ApiService {
  app: FastifyInstance;
  /** `http://127.0.0.1:port` once listening. */
  base: string;
  storage: Storage;
  settings: Settings;
  worker?: Worker;
  close(): Promise<void>;
}

/**
 * The HTTP app on Azurite, listening on a free loopback port, with an in-process worker unless
 * `worker: false`. Containers, queues and the table are created.
 */
export async function startApiService(
  connectionString: string,
  options: {
    worker?: boolean;
    settings?: SettingsOverrides;
    api?: Partial<ApiDeps>;
  } = {},
): Promise<ApiService> {
  const settings = testSettings(connectionString, { logLevel: 'silent', ...options.settings });
  const storage = await createStorage(settings);
  await storage.ensure();
  const runtime =
    options.worker === false
      ? undefined
      : await createWorkerRuntime(settings, { logger: createLogger({ level: 'silent' }), storage });
  const app = buildApp({
    registry: new Registry(),
    readiness: async () => ({ storage: { ok: true } }),
    api: {
      storage,
      maxUploadBytes: settings.maxUploadBytes,
      tempDir: settings.worker.tempDir,
      worker: runtime?.worker,
      eventsPollMs: 100,
      ...options.api,
    },
  });
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  runtime?.worker.start();
  return {
    app,
    base,
    storage,
    settings,
    worker: runtime?.worker,
    async close() {
      await runtime?.worker.close(2000);
      await app.close();
    },
  };
}

export interface SseEvent {
  id?: string;
  event: string;
  data: string;
}

/** Reads a server-sent event stream to its end (or until `timeoutMs`), parsing every event. */
export async function readEvents(
  url: string,
  init: RequestInit = {},
  timeoutMs = 60_000,
): Promise<SseEvent[]> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
  if (res.status !== 200) throw new Error(`event stream answered ${res.status}: ${await res.text()}`);
  if (!res.headers.get('content-type')?.startsWith('text/event-stream')) {
    throw new Error(`not an event stream: ${res.headers.get('content-type')}`);
  }
  const text = await res.text();
  const events: SseEvent[] = [];
  for (const block of text.split('\n\n')) {
    const e: SseEvent = { event: 'message', data: '' };
    let any = false;
    for (const line of block.split('\n')) {
      const m = /^([a-z]+): ?(.*)$/.exec(line);
      if (!m) continue;
      if (m[1] === 'id') e.id = m[2];
      else if (m[1] === 'event') e.event = m[2]!;
      else if (m[1] === 'data') {
        e.data += m[2];
        any = true;
      }
    }
    if (any) events.push(e);
  }
  return events;
}
