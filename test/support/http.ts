import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { Registry } from 'prom-client';
import { createStorage, type Storage } from '../../src/adapters/storage.js';
import type { Settings } from '../../src/config.js';
import { buildApp, type ApiDeps } from '../../src/hosts/http/app.js';
import type { Worker } from '../../src/hosts/worker/worker.js';
import type { StorageNames, TestAzurite } from './azurite.js';
import { startTestWorker, testSettings, type TestSettingsOverrides } from './worker.js';

export interface ApiService {
  app: FastifyInstance;
  storage: Storage;
  settings: Settings;
  /** Its containers, queue and job table: another service on the same data takes them as settings. */
  names: StorageNames;
  worker?: Worker;
  /**
   * A `fetch` of `path` served by the app in process (Fastify's `inject`): no socket, the same
   * routes, hooks and answers. For what needs a real connection (event streams, ranges through a
   * real client, bytes the client must not normalise), `listen()` first.
   */
  fetch(path: string, init?: RequestInit): Promise<Response>;
  /** Listens on a free loopback port (once) and resolves with `http://127.0.0.1:port`. */
  listen(): Promise<string>;
  close(): Promise<void>;
}

/**
 * The HTTP app on Azurite, on names no other test uses, with an in-process worker unless
 * `worker: false`. Containers, queues and the table are created; nothing listens until `listen()`.
 */
export async function startApiService(
  azurite: TestAzurite,
  options: {
    worker?: boolean;
    settings?: TestSettingsOverrides;
    api?: Partial<ApiDeps>;
  } = {},
): Promise<ApiService> {
  const overrides = { logLevel: 'silent', ...options.settings };
  const worker =
    options.worker === false
      ? undefined
      : await startTestWorker(azurite, { settings: overrides, start: false });
  const settings =
    worker?.settings ?? testSettings(azurite.connectionString, { ...azurite.names('api'), ...overrides });
  const storage = worker?.storage ?? (await createStorage(settings));
  if (!worker) await storage.ensure();
  const app = buildApp({
    registry: new Registry(),
    readiness: async () => ({ storage: { ok: true } }),
    api: {
      storage,
      maxUploadBytes: settings.maxUploadBytes,
      tempDir: settings.worker.tempDir,
      worker: worker?.worker,
      eventsPollMs: 100,
      ...options.api,
    },
  });
  await app.ready();
  worker?.worker.start();
  let listening: Promise<string> | undefined;
  return {
    app,
    storage,
    settings,
    names: {
      videoContainer: settings.videoContainer,
      thumbnailContainer: settings.thumbnailContainer,
      queueName: settings.queueName,
      jobsTable: settings.jobsTable,
    },
    worker: worker?.worker,
    fetch: (path, init) => injected(app, path, init),
    listen: () => (listening ??= app.listen({ host: '127.0.0.1', port: 0 })),
    async close() {
      await worker?.close(2000);
      await app.close();
    },
  };
}

/** Statuses whose answer has no body, which a `Response` must be made without. */
const NULL_BODY = new Set([101, 204, 205, 304]);

/** `fetch` through `app.inject`, with fetch's own defaults (a text body is text/plain). */
async function injected(app: FastifyInstance, path: string, init: RequestInit = {}): Promise<Response> {
  const method = (init.method ?? 'GET').toUpperCase();
  const headers = Object.fromEntries(new Headers(init.headers).entries());
  const body = init.body;
  let payload: string | Buffer | Readable | undefined;
  if (typeof body === 'string') {
    payload = body;
    headers['content-type'] ??= 'text/plain;charset=UTF-8';
  } else if (body instanceof Uint8Array) payload = Buffer.from(body);
  else if (body instanceof ReadableStream)
    payload = Readable.fromWeb(body as import('node:stream/web').ReadableStream);
  else if (body !== undefined && body !== null)
    throw new TypeError('service.fetch: a string, bytes or a stream');
  const res = await app.inject({ method: method as 'GET', url: path, headers, payload });
  const answer = new Headers();
  for (const [name, value] of Object.entries(res.headers)) {
    for (const v of [value].flat()) if (v !== undefined) answer.append(name, String(v));
  }
  const empty = method === 'HEAD' || NULL_BODY.has(res.statusCode);
  return new Response(empty ? null : new Uint8Array(res.rawPayload), {
    status: res.statusCode,
    headers: answer,
  });
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
