import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { Registry } from 'prom-client';
import { startEmulator, type Emulator } from '../../src/adapters/emulator.js';
import { createStorage } from '../../src/adapters/storage.js';
import { loadSettings } from '../../src/config.js';
import { buildApp } from '../../src/hosts/http/app.js';
import { Job } from '../../src/hosts/http/schemas.js';
import { JOB_ID } from '../../src/jobs/names.js';
import { check, Tally, utf8, type FuzzTarget } from '../target.js';

/**
 * `POST /api/jobs` bodies through the real app (buildApp, inject) on Azurite, where a few videos
 * exist. Contract, checked against a model of the NewJob schema written here: a body the schema
 * refuses is a 400 whose `field` names a field at fault (an unknown key, `video`, `id` or
 * `options`); a body it accepts is 202 with a Job (checked against the response schema with
 * Ajv) for one of the videos that exist, or 404 (no such video), 409 (id taken), or a 400
 * naming `video`, `id` or `options.<name>`; a body that is not JSON, or that has a prototype key
 * (`__proto__`, `constructor.prototype`, which Fastify's parser refuses), is a 400; never a 5xx.
 */

const VIDEOS = ['a.mp4', 'dir/b c.mp4', 'ünï/çödé.mkv'];
const ACCOUNT = 'devstoreaccount1';
const PLACEHOLDER = `http://127.0.0.1:PORT/${ACCOUNT}/`;
const tally = new Tally();
/** The API's own response schema, compiled apart from the app's validators. */
const isJob = new Ajv({ strict: false }).compile(Job);
let emulator: Emulator | undefined;
let app: FastifyInstance;
let work = '';
let endpoint = PLACEHOLDER;

type Verdict = { accepted: true } | { accepted: false; fields: string[] };

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** What the NewJob schema says of a parsed body, field by field. */
function schemaVerdict(body: unknown): Verdict {
  if (!isPlainObject(body)) return { accepted: false, fields: ['body'] };
  const fields = Object.keys(body).filter((k) => k !== 'id' && k !== 'video' && k !== 'options');
  const { id, video, options } = body;
  if (typeof video !== 'string' || video.length === 0 || [...video].length > 4096 || video.length > 8192)
    fields.push('video');
  if ('id' in body && (typeof id !== 'string' || !JOB_ID.test(id))) fields.push('id');
  if ('options' in body && !isPlainObject(options)) fields.push('options');
  return fields.length === 0 ? { accepted: true } : { accepted: false, fields };
}

/** A key that would poison a prototype once merged: `__proto__`, or `constructor` with a `prototype`. */
function hasPrototypeKey(value: unknown): boolean {
  if (Array.isArray(value)) return value.some(hasPrototypeKey);
  if (!value || typeof value !== 'object') return false;
  return Object.entries(value).some(
    ([key, v]) =>
      key === '__proto__' ||
      (key === 'constructor' && v !== null && typeof v === 'object' && Object.hasOwn(v, 'prototype')) ||
      hasPrototypeKey(v),
  );
}

async function runOne(input: Uint8Array): Promise<void> {
  // Blob URLs are generated for a placeholder port: the emulator's is known only now.
  const payload = utf8(input).replaceAll(PLACEHOLDER, endpoint);
  const response = await app.inject({
    method: 'POST',
    url: '/api/jobs',
    headers: { host: '127.0.0.1', 'content-type': 'application/json' },
    payload,
  });
  const status = response.statusCode;
  const what = `POST /api/jobs ${JSON.stringify(payload.slice(0, 300))}`;
  check(status < 500, `${what} answered ${status}: ${response.body.slice(0, 300)}`);
  let reply: { error?: { code?: string; field?: string } } & Record<string, unknown>;
  try {
    reply = JSON.parse(response.body) as typeof reply;
  } catch {
    throw new Error(
      `${what} answered ${status} with a body that is not JSON: ${response.body.slice(0, 200)}`,
    );
  }
  let body: unknown;
  try {
    body = JSON.parse(payload);
  } catch {
    check(status === 400 || status === 413, `${what} (not JSON) answered ${status}`);
    tally.add('not-json');
    return;
  }
  if (hasPrototypeKey(body)) {
    // Fastify's JSON parser refuses `__proto__` and `constructor.prototype` outright (no field).
    check(status === 400, `${what} (a prototype key) answered ${status}`);
    tally.add('prototype-key');
    return;
  }
  const verdict = schemaVerdict(body);
  const field = reply.error?.field;
  if (!verdict.accepted) {
    check(status === 400, `${what} breaks the schema (${verdict.fields.join(', ')}) but answered ${status}`);
    check(
      field !== undefined && verdict.fields.some((f) => field === f || field.startsWith(`${f}.`)),
      `${what} breaks the schema at ${verdict.fields.join(', ')} but the 400 names ${JSON.stringify(field)}`,
    );
    tally.add('refused-by-schema');
    return;
  }
  if (status === 202) {
    check(isJob(reply), `${what} answered 202 with a body that is not a Job: ${response.body.slice(0, 300)}`);
    check(
      VIDEOS.includes(reply.video as string),
      `${what} queued a job for ${JSON.stringify(reply.video)}, which does not exist`,
    );
    tally.add('queued');
    return;
  }
  check([400, 404, 409].includes(status), `${what} answered ${status}`);
  if (status === 400) {
    check(
      field !== undefined && /^(video|id|options)(\.|$)/.test(field),
      `${what} answered 400 naming ${JSON.stringify(field)}, not video, id or options.<name>`,
    );
  }
  tally.add(`refused-${status}`);
}

const base = `${PLACEHOLDER}videos/`;
const video = fc.oneof(
  { arbitrary: fc.constantFrom(...VIDEOS), weight: 4 },
  {
    arbitrary: fc
      .constantFrom(...VIDEOS)
      .map((v) => `${base}${v.split('/').map(encodeURIComponent).join('/')}`),
    weight: 1,
  },
  { arbitrary: fc.string({ maxLength: 30 }), weight: 2 },
  {
    arbitrary: fc.constantFrom(
      '',
      '../a.mp4',
      '/a.mp4',
      'a.mp4/',
      'x'.repeat(5000),
      'https://evil.example/videos/a.mp4',
    ),
    weight: 1,
  },
  { arbitrary: fc.anything(), weight: 1 },
);
const optionValue = fc.oneof(
  fc.integer({ min: -5, max: 2000 }),
  fc.double(),
  fc.string({ maxLength: 10 }),
  fc.boolean(),
  fc.constant(null),
  fc.anything(),
);
const options = fc.oneof(
  fc.record(
    {
      rows: fc.oneof(fc.integer({ min: 1, max: 20 }), optionValue),
      cols: fc.oneof(fc.integer({ min: 1, max: 20 }), optionValue),
      width: fc.oneof(fc.integer({ min: 16, max: 1920 }), optionValue),
      mode: fc.oneof(fc.constantFrom('fast', 'accurate'), optionValue),
      outputs: fc.oneof(fc.constantFrom(['strip'], ['poster', 'storyboard'], 'strip,poster'), optionValue),
      format: fc.oneof(fc.constantFrom('jpg', 'webp'), optionValue),
      storyboardInterval: fc.oneof(fc.double({ min: 0.5, max: 600, noNaN: true }), optionValue),
      color: fc.oneof(fc.constantFrom('#000000', 'black', 'white'), optionValue),
    },
    { requiredKeys: [] },
  ),
  fc.dictionary(fc.string({ maxLength: 12 }), optionValue, { maxKeys: 3 }),
  fc.anything(),
);
const id = fc.oneof(
  fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,20}$/),
  fc.string({ maxLength: 10 }),
  fc.anything(),
);
const job = fc.record({ video, id, options }, { requiredKeys: [] });
const payload = fc.oneof(
  { arbitrary: job.map((j) => JSON.stringify(j)), weight: 6 },
  {
    arbitrary: fc
      .tuple(job, fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue(), { minKeys: 1, maxKeys: 2 }))
      .map(([j, e]) => JSON.stringify({ ...e, ...j })),
    weight: 1,
  },
  { arbitrary: fc.jsonValue().map((v) => JSON.stringify(v)), weight: 1 },
  { arbitrary: fc.string({ maxLength: 40 }), weight: 1 },
);

export const target: FuzzTarget = {
  name: 'job-bodies',
  summary:
    'POST /api/jobs bodies through buildApp on Azurite: accepted and typed, or a 400 naming the field; never a 5xx',
  coverage: ['/src/hosts/http/', '/src/jobs/submit.ts', '/src/jobs/messages.ts', '/src/engine/options.ts'],
  maxInputBytes: 16 * 1024,
  defaultSeconds: 30,
  hangSeconds: 30,
  dictionary: [
    '{"video":"a.mp4"',
    ',"id":"',
    ',"options":{',
    '"rows":',
    '"mode":"accurate"',
    '"outputs":["strip"]',
    '}',
    '[',
    'null',
    '1e309',
    '-0',
    '"\\u0000"',
    '"__proto__":',
    '"constructor":',
  ],
  generator: payload.map((p) => new Uint8Array(Buffer.from(p, 'utf8'))),
  async setup() {
    work = mkdtempSync(join(tmpdir(), 'thumbnailer-fuzz-jobs-'));
    emulator = await startEmulator({ ports: 'free', inMemory: true, startTimeoutMs: 20_000 });
    const settings = loadSettings({ connectionString: emulator.connectionString, logLevel: 'silent' }, {});
    const storage = await createStorage(settings);
    await storage.ensure();
    endpoint = storage.blobs.endpoint.endsWith('/') ? storage.blobs.endpoint : `${storage.blobs.endpoint}/`;
    for (const v of VIDEOS) await storage.blobs.uploadText(settings.videoContainer, v, 'not really a video');
    app = buildApp({
      registry: new Registry(),
      readiness: async () => ({ storage: { ok: true } }),
      api: { storage, maxUploadBytes: 1024 * 1024, tempDir: work },
    });
    await app.ready();
  },
  async teardown() {
    await app?.close();
    await emulator?.stop();
    rmSync(work, { recursive: true, force: true });
  },
  run: runOne,
  stats: () => tally.get(),
};
