import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import inject from 'light-my-request';
import { Registry } from 'prom-client';
import { buildApp, type ApiDeps } from '../../src/hosts/http/app.js';
import { PUBLIC_DIR } from '../../src/hosts/http/dashboard.js';
import { check, Tally, type FuzzTarget } from '../target.js';

/**
 * Request lines and headers through the real Fastify app (buildApp), in memory. An input is
 * `METHOD PATH` then header lines. `app.inject` resolves dot segments and reads `//x` as a host
 * (light-my-request parses the URL with WHATWG URL), which would hide exactly the spellings under
 * test; so the request is made by light-my-request and its `url` set to the raw path, as Node's
 * HTTP parser would leave it, before the app's own request handler sees it.
 * Contract, whatever the spelling (percent-encoding, doubled slashes, dot segments, case, unicode,
 * overlong UTF-8, absolute form):
 * - with THUMBNAILER_API_TOKEN set and no valid token sent, no API route runs its handler (storage
 *   is a tripwire), and only the open routes (health, metrics, the dashboard's files) answer 2xx or
 *   3xx; a dashboard file served is one of its own files, byte for byte;
 * - in the open local mode, a request with a foreign `Host` reaches no handler and is answered 421
 *   (or a 4xx of the router, before any hook: a path it cannot decode, 414), and a state-changing
 *   one from another `Origin`
 *   reaches no handler and is answered 4xx;
 * - never a 5xx.
 */

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'];
// Controls a header value cannot carry (tab excepted).
// eslint-disable-next-line no-control-regex
const HEADER_CONTROLS = /[\u0000-\u0008\u000a-\u001f\u007f]/g;
const STATE_CHANGING = new Set(['POST', 'PUT', 'DELETE', 'PATCH']);
const OPEN_ROUTES = new Set(['/healthz', '/readyz', '/metrics']);
const tally = new Tally();

let work = '';
let tokenApp: FastifyInstance;
let openApp: FastifyInstance;
let publicFiles: Buffer[] = [];
const publicRoutes = new Set<string>();
const tripped: string[] = [];
const routeOf = new WeakMap<object, string | undefined>();

/** Storage whose every call is a breach: no request of this target may reach a handler. */
function tripwire(what: string): never {
  return new Proxy(
    {},
    {
      get: (_t, prop) =>
        prop === 'then'
          ? undefined
          : (..._args: unknown[]) => {
              tripped.push(`${what}.${String(prop)}`);
              throw new Error(`tripwire: ${what}.${String(prop)} was called`);
            },
    },
  ) as never;
}

function makeApp(api: Partial<ApiDeps>): FastifyInstance {
  const app = buildApp({
    registry: new Registry(),
    readiness: async () => ({ storage: { ok: true } }),
    api: {
      storage: {
        blobs: tripwire('blobs'),
        jobs: tripwire('jobs'),
        queue: tripwire('queue'),
        accountName: 'acct',
        videoContainer: 'videos',
        thumbnailContainer: 'thumbnails',
      },
      maxUploadBytes: 1024 * 1024,
      tempDir: work,
      ...api,
    },
  });
  // Which route the router matched, read after the answer.
  app.addHook('onRequest', async (request) => {
    routeOf.set(request.raw, request.routeOptions.url);
  });
  return app;
}

interface RawRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
}

/** What a client can put on the wire: bytes Node's HTTP parser refuses in a request target are dropped. */
function parse(input: Uint8Array): RawRequest {
  const text = Buffer.from(input).toString('latin1');
  const [line = '', ...rest] = text.split('\n');
  const space = line.indexOf(' ');
  const word = (space >= 0 ? line.slice(0, space) : '').toUpperCase();
  const method = METHODS.includes(word) ? word : METHODS[(line.charCodeAt(0) || 0) % METHODS.length]!;
  // eslint-disable-next-line no-control-regex
  let path = (space >= 0 ? line.slice(space + 1) : line).replace(/[\u0000-\u0020\u007f]/g, '');
  if (!path.startsWith('/') && !/^https?:\/\//i.test(path)) path = `/${path}`;
  const headers: Record<string, string> = {};
  for (const h of rest) {
    const colon = h.indexOf(':');
    const name = h.slice(0, colon).trim().toLowerCase();
    const value = h
      .slice(colon + 1)
      .replace(HEADER_CONTROLS, '')
      .trim();
    if (
      colon > 0 &&
      /^[!#$%&'*+.^_`|~0-9a-z-]+$/.test(name) &&
      !['content-length', 'transfer-encoding', 'host'].includes(name)
    ) {
      headers[name] = value;
    }
  }
  return { method, path, headers };
}

async function send(app: FastifyInstance, request: RawRequest, extra: Record<string, string>) {
  let raw: object | undefined;
  const response = await inject(
    (req, res) => {
      req.url = request.path;
      raw = req;
      app.server.emit('request', req, res);
    },
    {
      method: request.method as 'GET',
      url: '/',
      headers: { ...request.headers, ...extra },
      payload: STATE_CHANGING.has(request.method) ? '{}' : undefined,
    },
  );
  return {
    status: response.statusCode,
    body: response.rawPayload,
    route: raw ? routeOf.get(raw) : undefined,
  };
}

async function runOne(input: Uint8Array): Promise<void> {
  const request = parse(input);
  const what = `${request.method} ${JSON.stringify(request.path.slice(0, 200))}`;
  tripped.length = 0;

  const guarded = await send(tokenApp, request, { host: '127.0.0.1:7071' });
  check(
    tripped.length === 0,
    `${what} without the token reached ${tripped.join(', ')} (answered ${guarded.status})`,
  );
  check(guarded.status < 500, `${what} answered ${guarded.status}`);
  if (guarded.status < 400) {
    const route = guarded.route ?? '(none)';
    check(
      OPEN_ROUTES.has(route) || publicRoutes.has(route),
      `${what} without the token answered ${guarded.status} from route ${route}`,
    );
    if (publicRoutes.has(route) && request.method === 'GET' && guarded.status === 200) {
      check(
        publicFiles.some((f) => f.equals(guarded.body)),
        `${what} served bytes that are not a dashboard file`,
      );
    }
  }
  tally.add(`token-${guarded.status}`);

  const rebound = await send(openApp, request, { host: 'evil.example' });
  // 421 from the guard, or a 4xx of the router before any hook (a path it cannot decode, 414).
  check(tripped.length === 0, `${what} with Host evil.example reached ${tripped.join(', ')}`);
  check(
    rebound.status === 421 || (rebound.status >= 400 && rebound.status < 500 && rebound.route === undefined),
    `${what} with Host evil.example answered ${rebound.status}`,
  );
  if (STATE_CHANGING.has(request.method)) {
    const forged = await send(openApp, request, { host: '127.0.0.1:7071', origin: 'https://evil.example' });
    check(tripped.length === 0, `${what} from another Origin reached ${tripped.join(', ')}`);
    check(
      forged.status >= 400 && forged.status < 500,
      `${what} from another Origin answered ${forged.status}`,
    );
    tally.add(`cross-origin-${forged.status}`);
  }
}

// Spellings of every route, and of paths that are no route.
const ROUTES = [
  '/api/videos?name=a.mp4',
  '/api/jobs',
  '/api/jobs/x',
  '/api/jobs/x/events',
  '/api/videos/a.mp4/source',
  '/api/videos/a.mp4/outputs/strip.jpg',
  '/api/videos/a.mp4/frame.jpg?time=1',
  '/api/videos/a.mp4/frame.webp?time=1',
  '/api/openapi.json',
  '/healthz',
  '/metrics',
  '/',
  '/index.html',
  '/app.js',
  '/styles.css',
  '/../../etc/passwd',
];
const respell = fc.constantFrom(
  (p: string) => p,
  (p: string) => p.replace('api', '%61pi'),
  (p: string) => p.replace('api', 'API'),
  (p: string) => p.replace('api', 'Api'),
  (p: string) => p.replace('/api', '//api'),
  (p: string) => p.replace('/api', '/./api'),
  (p: string) => p.replace('/api', '/x/../api'),
  (p: string) => p.replace('/api', '/x/%2e%2e/api'),
  (p: string) => p.replace('/api/', '/api%2f'),
  (p: string) => p.replace('/api/', '/api%2F'),
  (p: string) => p.replace('/api', '/%2561pi'),
  (p: string) => p.replace('a', '%c1%a1'),
  (p: string) => p.replace('/api', '/\u0430pi'),
  (p: string) => p.replace('/api', '/api;x'),
  (p: string) => p.replace('/api', '/api\\'),
  (p: string) => p.replace('/', '\\'),
  (p: string) => `http://127.0.0.1:7071${p}`,
  (p: string) => `${p}/`,
  (p: string) => `${p}?access_token=wrong`,
  (p: string) => `${p}#frag`,
  (p: string) => p.replace(/[a-z]/g, (c) => `%${c.charCodeAt(0).toString(16)}`),
);
const auth = fc.constantFrom(
  {},
  { authorization: 'Bearer ' },
  { authorization: 'Bearer wrong-token' },
  { authorization: 'bearer' },
  { authorization: 'Basic YTpi' },
  { authorization: 'Bearer  ' + 'x'.repeat(300) },
  { cookie: 'token=x' },
);
const request = fc
  .tuple(
    fc.constantFrom(...METHODS),
    fc.constantFrom(...ROUTES),
    fc.array(respell, { minLength: 1, maxLength: 3 }),
    auth,
  )
  .map(([method, route, edits, headers]) => {
    const path = edits.reduce((p, f) => f(p), route);
    const lines = Object.entries(headers).map(([k, v]) => `${k}: ${v}`);
    return new Uint8Array(Buffer.from([`${method} ${path}`, ...lines].join('\n'), 'latin1'));
  });

export const target: FuzzTarget = {
  name: 'http-paths',
  summary:
    'request paths and headers through buildApp: no API route answers 2xx without the token, whatever the spelling',
  coverage: ['/src/hosts/http/', '/find-my-way/', '/fastify/lib/', '/@fastify/static/'],
  maxInputBytes: 4096,
  defaultSeconds: 30,
  dictionary: [
    '/api',
    '/API',
    '%61',
    '%2e',
    '%2E%2E',
    '%2f',
    '%252f',
    '//',
    '/./',
    '/../',
    '%c0%ae',
    '%c1%9c',
    '%e0%80%af',
    ';',
    '\\',
    '?',
    '#',
    '&access_token=',
    'jobs',
    'videos',
    'outputs',
    'frame.jpg',
    'source',
    'events',
    'openapi.json',
    'healthz',
    '\nauthorization: Bearer ',
    '\norigin: null',
    '\nsec-fetch-site: same-origin',
    'GET ',
    'POST ',
    'HEAD ',
  ],
  generator: request,
  async setup() {
    work = mkdtempSync(join(tmpdir(), 'thumbnailer-fuzz-http-'));
    publicFiles = readdirSync(PUBLIC_DIR).map((f) => readFileSync(join(PUBLIC_DIR, f)));
    tokenApp = makeApp({ apiToken: randomBytes(24).toString('hex') });
    openApp = makeApp({});
    await Promise.all([tokenApp.ready(), openApp.ready()]);
    publicRoutes.add('/');
    for (const f of readdirSync(PUBLIC_DIR)) publicRoutes.add(`/${f}`);
  },
  async teardown() {
    await Promise.all([tokenApp?.close(), openApp?.close()]);
    rmSync(work, { recursive: true, force: true });
  },
  run: runOne,
  stats: () => tally.get(),
};
