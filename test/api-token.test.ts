import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, test } from 'node:test';
import { startAzurite, type TestAzurite } from './support/azurite.js';
import { startApiService, type ApiService } from './support/http.js';

const TOKEN = 's3cret-token';
let azurite: TestAzurite;
let service: ApiService;
let base: string;

before(async () => {
  azurite = await startAzurite();
  service = await startApiService(azurite, {
    worker: false,
    settings: { apiToken: TOKEN },
    api: { apiToken: TOKEN },
  });
  // A real socket: the path must reach the server byte for byte, as an attacker would send it.
  base = await service.listen();
});
after(async () => {
  await service?.close();
  await azurite?.stop();
});

interface RawResponse {
  status: number;
  body: string;
}

/** Sends `path` byte for byte (fetch and URL would normalise it first, hiding the bypass). */
function raw(method: string, path: string, headers: Record<string, string> = {}): Promise<RawResponse> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, method, path, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end(method === 'POST' ? '{}' : undefined);
  });
}

/** Every route of the API as a concrete path; the test below checks that this list is complete. */
const GET_AND_POST: [method: string, path: string, pattern: string][] = [
  ['POST', '/api/videos?name=a.mp4', '/api/videos'],
  ['POST', '/api/jobs', '/api/jobs'],
  ['GET', '/api/jobs', '/api/jobs'],
  ['GET', '/api/jobs/x', '/api/jobs/:id'],
  ['GET', '/api/jobs/x/events', '/api/jobs/:id/events'],
  ['GET', '/api/videos/a.mp4/source', '/api/videos/:name/source'],
  ['GET', '/api/videos/a.mp4/outputs/strip.jpg', '/api/videos/:name/outputs/:file'],
  ['GET', '/api/videos/a.mp4/frame.jpg?time=1', '/api/videos/:name/frame.jpg'],
  ['GET', '/api/videos/a.mp4/frame.webp?time=1', '/api/videos/:name/frame.webp'],
  ['GET', '/api/openapi.json', '/api/openapi.json'],
];
/** Fastify answers HEAD on every GET route. */
const ROUTES = GET_AND_POST.flatMap((route) =>
  route[0] === 'GET' ? [route, ['HEAD', route[1], route[2]] as typeof route] : [route],
);

/** Other spellings of one path: percent-encoding, doubled slashes, dot segments, case, suffixes. */
function spellings(path: string): string[] {
  const [pathname, query] = path.split('?') as [string, string | undefined];
  const q = query === undefined ? '' : `?${query}`;
  const rest = pathname.slice('/api'.length);
  const encodeAll = (s: string) =>
    [...s].map((c) => (c === '/' ? c : `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`)).join('');
  const segments = pathname.split('/').filter(Boolean);
  const last = segments.at(-1)!;
  return [
    pathname,
    `/%61pi${rest}`,
    `/%61%70%69${rest}`,
    `/%41%50%49${rest}`,
    `/ap%69${rest}`,
    `${encodeAll(pathname)}`,
    `${pathname.slice(0, -last.length)}${encodeAll(last)}`,
    `/${pathname}`,
    `//${pathname.slice(1)}`,
    `/api/${rest}`,
    pathname.replace(/\//g, '//'),
    `/.${pathname}`,
    `/./api/.${rest}`,
    `/x/..${pathname}`,
    `/api/x/..${rest}`,
    `/%2e${pathname}`,
    `/x/%2e%2e${pathname}`,
    `/API${rest}`,
    `/Api${rest}`,
    pathname.toUpperCase(),
    `${pathname}/`,
    `${pathname};x=1`,
    `/api;x=1${rest}`,
    `/api%2F${rest.slice(1)}`,
    `/api%2f${rest.slice(1)}`,
    `${pathname}%00`,
    `/api\\${rest.slice(1)}`,
    `${pathname}#frag`,
  ].map((p) => `${p}${q}`);
}

/** The routes in Fastify's printed tree, as `METHOD /full/path` (children extend their parent). */
function servedRoutes(tree: string): string[] {
  const stack: string[] = [];
  const routes: string[] = [];
  for (const line of tree.split('\n')) {
    const m = /^(.*?)[└├]── (\S+) \(([A-Z, ]+)\)$/.exec(line);
    if (!m) continue;
    const depth = m[1]!.length / 4;
    stack.length = depth;
    const parent = stack.at(-1) ?? '';
    const path =
      depth === 0
        ? m[2]!
        : parent.endsWith('/') || m[2]!.startsWith('/')
          ? parent + m[2]!
          : `${parent}/${m[2]!}`;
    stack.push(path);
    for (const method of m[3]!.split(', ')) routes.push(`${method} ${path}`);
  }
  return routes;
}

test('the route list covers every /api route the app serves', () => {
  const served = servedRoutes(service.app.printRoutes({ commonPrefix: false })).filter((r) =>
    r.includes(' /api'),
  );
  const listed = new Set(ROUTES.map(([method, , pattern]) => `${method} ${pattern}`));
  assert.ok(served.length >= ROUTES.length, served.join('\n'));
  for (const route of served) assert.ok(listed.has(route), `${route} is served but not tested`);
});

/** Whether the router matched no route for this spelling (HEAD has no body: asked as GET). */
async function routerMiss(method: string, path: string): Promise<boolean> {
  const res = await raw(method === 'HEAD' ? 'GET' : method, path);
  return res.status === 404 && res.body.includes('"No route');
}

test('no spelling of an /api path reaches its route without the token', async () => {
  let reached = 0;
  for (const [method, path] of ROUTES) {
    for (const spelled of spellings(path)) {
      const anonymous = await raw(method, spelled);
      const miss = await routerMiss(method, spelled);
      // 401, or the router found nothing at all; never a route's answer, whatever its status.
      assert.ok(
        anonymous.status === 401 || anonymous.status === 400 || miss,
        `${method} ${spelled} answered ${anonymous.status} without a token: ${anonymous.body.slice(0, 200)}`,
      );
      if (!miss && anonymous.status !== 400) {
        reached++;
        assert.equal(anonymous.status, 401, `${method} ${spelled} reached its route without the token`);
        // The same spelling with the token does reach the route (the spelling is a real way in).
        const authorised = await raw(method, spelled, { authorization: `Bearer ${TOKEN}` });
        assert.notEqual(authorised.status, 401, `${method} ${spelled} with the token`);
        const wrong = await raw(method, spelled, { authorization: `Bearer ${TOKEN}x` });
        assert.equal(wrong.status, 401, `${method} ${spelled} with a wrong token`);
      }
    }
  }
  // The encoded spellings do reach routes (the router decodes them): the test exercised them.
  assert.ok(reached > ROUTES.length * 2, `only ${reached} spellings reached a route`);
});

test('health, metrics and the dashboard stay open; a token of another length is refused', async () => {
  for (const open of ['/healthz', '/readyz', '/metrics', '/']) {
    assert.equal((await raw('GET', open)).status, 200, open);
  }
  for (const given of ['', 's', `${TOKEN}${TOKEN}`, TOKEN.toUpperCase(), `${TOKEN} x`]) {
    const res = await raw('GET', '/api/jobs', { authorization: `Bearer ${given}` });
    assert.equal(res.status, 401, JSON.stringify(given));
  }
  assert.equal((await raw('GET', '/api/jobs', { authorization: `Bearer ${TOKEN}` })).status, 200);
});
