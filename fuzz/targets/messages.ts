import fc from 'fast-check';
import type { ThumbnailerError } from '../../src/errors.js';
import { JOB_ID } from '../../src/jobs/names.js';
import {
  parseMessage,
  validateBlobName,
  type MessageContext,
  type ParsedMessage,
} from '../../src/jobs/messages.js';
import { check, expectCoded, Tally, utf8, type FuzzTarget } from '../target.js';

/**
 * Queue message bodies, every form of docs/contract.md section 3 (blob name, blob URL, JSON job,
 * Event Grid BlobCreated in Event Grid schema and CloudEvents 1.0; base64 or plain), through
 * `parseMessage` against two accounts: one on Azure's host names, one on Azurite's path-style URLs.
 * Contract: a job (its video a valid blob name that reads back the same through every other form)
 * or an `ignore`, or a ThumbnailerError E_MESSAGE_INVALID / E_URL_REFUSED whose message carries no
 * SAS signature; never another exception; each parse well under 50 ms.
 */

const CONTEXTS: MessageContext[] = [
  { videoContainer: 'videos', blobEndpoint: 'https://acct.blob.core.windows.net/', accountName: 'acct' },
  {
    videoContainer: 'videos',
    blobEndpoint: 'http://127.0.0.1:10000/devstoreaccount1',
    accountName: 'devstoreaccount1',
  },
];
const PARSE_MS = 50;
const SIGNATURE = /[?&]sig=(?!REDACTED)[^&\s"]+/i;
const tally = new Tally();

/** One parse, timed; a slow one is timed twice more (a GC pause on a busy machine is not a DoS). */
function timedParse(body: string, ctx: MessageContext): ParsedMessage | Error {
  let best = Infinity;
  let outcome: ParsedMessage | Error = new Error('not run');
  for (let attempt = 0; attempt < 3 && best > PARSE_MS; attempt++) {
    const t0 = performance.now();
    try {
      outcome = parseMessage(body, ctx);
    } catch (error) {
      outcome = expectCoded(error, ['E_MESSAGE_INVALID', 'E_URL_REFUSED']);
    }
    best = Math.min(best, performance.now() - t0);
  }
  check(
    best <= PARSE_MS,
    `parsing a ${body.length}-character message took ${best.toFixed(1)} ms (bound ${PARSE_MS} ms)`,
  );
  return outcome;
}

/** The same video in every form a client may send it: each must parse to exactly this video. */
function spellings(video: string, ctx: MessageContext): string[] {
  const base = ctx.blobEndpoint.endsWith('/') ? ctx.blobEndpoint : `${ctx.blobEndpoint}/`;
  const url = `${base}${ctx.videoContainer}/${video.split('/').map(encodeURIComponent).join('/')}`;
  const event = {
    id: 'e1',
    eventType: 'Microsoft.Storage.BlobCreated',
    subject: '',
    data: { url },
    dataVersion: '',
  };
  const cloud = {
    specversion: '1.0',
    type: 'Microsoft.Storage.BlobCreated',
    source: '/x',
    id: 'c1',
    data: { url },
  };
  const plain = [
    url,
    JSON.stringify({ video }),
    JSON.stringify({ video: url }),
    JSON.stringify([event]),
    JSON.stringify(cloud),
  ];
  return [...plain, ...plain.map((p) => Buffer.from(p, 'utf8').toString('base64'))];
}

function checkJob(parsed: ParsedMessage, ctx: MessageContext): void {
  if (parsed.kind === 'ignore') {
    check(
      parsed.form === 'event-grid' || parsed.form === 'cloud-event',
      `only events are ignored, not a ${parsed.form}`,
    );
    check(typeof parsed.reason === 'string' && parsed.reason.length > 0, 'an ignored event says why');
    return;
  }
  check(validateBlobName(parsed.video) === parsed.video, 'the video is a valid blob name');
  check(
    parsed.id === undefined || JOB_ID.test(parsed.id),
    `job id ${JSON.stringify(parsed.id)} is not a valid id`,
  );
  check(
    parsed.options === undefined || (typeof parsed.options === 'object' && !Array.isArray(parsed.options)),
    'options are an object',
  );
  for (const body of spellings(parsed.video, ctx)) {
    const again = parseMessage(body, ctx);
    check(
      again.kind === 'job' && again.video === parsed.video,
      `video ${JSON.stringify(parsed.video)} sent as ${JSON.stringify(body.slice(0, 200))} parsed as ${JSON.stringify(again)}`,
    );
  }
}

function runOne(input: Uint8Array): void {
  const body = utf8(input);
  for (const ctx of CONTEXTS) {
    const outcome = timedParse(body, ctx);
    if (outcome instanceof Error) {
      check(
        !SIGNATURE.test(outcome.message),
        `the poison reason carries a SAS signature: ${outcome.message}`,
      );
      tally.add((outcome as ThumbnailerError).code);
      continue;
    }
    tally.add(`${outcome.kind}-${outcome.form}${outcome.base64 ? '-base64' : ''}`);
    checkJob(outcome, ctx);
  }
}

// Structured inputs: every form, with names, URLs and events a careless or hostile client sends.
const segment = fc.oneof(
  fc.stringMatching(/^[A-Za-z0-9 ._-]{1,12}$/),
  fc.string({ minLength: 1, maxLength: 8, unit: 'grapheme' }),
  fc.constantFrom(
    '..',
    '.',
    '',
    ' a',
    'a.',
    '%2e%2e',
    '%2F',
    'b\\c',
    '\u2028',
    '\ud800',
    '😀',
    'ﬁ',
    'A\u0301',
  ),
);
const name = fc.array(segment, { minLength: 1, maxLength: 5 }).map((s) => s.join('/'));
const host = fc.constantFrom(
  'https://acct.blob.core.windows.net/',
  'https://ACCT.blob.core.windows.net/',
  'http://acct.blob.core.windows.net/',
  'https://other.blob.core.windows.net/',
  'https://acct.blob.core.windows.net.evil.com/',
  'https://user:pw@acct.blob.core.windows.net/',
  'http://127.0.0.1:10000/devstoreaccount1/',
  'http://127.0.0.1:10000/devstoreaccount10/',
  'file:///',
  'ftp://acct.blob.core.windows.net/',
);
const container = fc.constantFrom('videos', 'thumbnails', 'Videos', 'vid%65os', '');
// encodeURIComponent refuses a lone surrogate: such a name is then sent as it is.
const percent = (n: string) => {
  try {
    return encodeURIComponent(n);
  } catch {
    return n;
  }
};
const encode = fc.constantFrom(
  (n: string) => n,
  (n: string) => n.split('/').map(percent).join('/'),
  percent,
  (n: string) => n.replace(/./g, (c) => `%${c.charCodeAt(0).toString(16)}`),
);
const query = fc.constantFrom('', '?sv=2024&sig=SECRETSIG123%3D', '#frag', '?a=1&sig=abc&se=2030', '?');
const url = fc.tuple(host, container, name, encode, query).map(([h, c, n, e, q]) => `${h}${c}/${e(n)}${q}`);
const id = fc.oneof(
  fc.constant(undefined),
  fc.stringMatching(/^[A-Za-z0-9._-]{1,20}$/),
  fc.string(),
  fc.integer(),
);
const video = fc.oneof(name, url, fc.anything());
const jsonJob = fc
  .record(
    { video, id, options: fc.oneof(fc.constant(undefined), fc.object(), fc.anything()) },
    { requiredKeys: [] },
  )
  .chain((job) =>
    fc.oneof(
      fc.constant(job),
      fc.dictionary(fc.string(), fc.anything()).map((extra) => ({ ...extra, ...job })),
    ),
  );
const eventType = fc.constantFrom('Microsoft.Storage.BlobCreated', 'Microsoft.Storage.BlobDeleted', 'x', '');
const topic = fc.constantFrom(
  '/subscriptions/s/resourceGroups/r/providers/Microsoft.Storage/storageAccounts/acct',
  '/subscriptions/s/resourceGroups/r/providers/Microsoft.Storage/storageAccounts/other',
  '/storageAccounts/',
  '',
);
const subject = fc.tuple(container, name).map(([c, n]) => `/blobServices/default/containers/${c}/blobs/${n}`);
const data = fc.oneof(
  fc.record({ url, api: fc.constantFrom('PutBlob', 'PutBlockList') }),
  fc.constant({}),
  fc.anything(),
);
const eventGrid = fc.record(
  {
    id,
    eventType: fc.oneof(eventType, fc.anything()),
    topic,
    subject: fc.oneof(subject, fc.anything()),
    data,
    eventTime: fc.string(),
    dataVersion: fc.string(),
  },
  { requiredKeys: ['eventType'] },
);
const cloudEvent = fc.record(
  {
    specversion: fc.oneof(fc.constant('1.0'), fc.anything()),
    type: fc.oneof(eventType, fc.anything()),
    source: topic,
    id,
    subject: fc.oneof(subject, fc.anything()),
    data,
  },
  { requiredKeys: ['specversion'] },
);
const json = fc
  .oneof(
    jsonJob,
    eventGrid,
    cloudEvent,
    eventGrid.map((e) => [e]),
    fc.array(eventGrid, { maxLength: 3 }),
    fc.jsonValue(),
  )
  .map((v) => JSON.stringify(v) ?? 'null');
const text = fc.oneof(
  name,
  url,
  json,
  name.map((n) => JSON.stringify(n)),
  url.map((u) => JSON.stringify(u)),
);
const body = fc
  .tuple(text, fc.boolean(), fc.constantFrom('', ' ', '\n', '\t', '\r\n', '\ufeff'))
  .map(([t, base64, pad]) => `${pad}${base64 ? Buffer.from(t, 'utf8').toString('base64') : t}${pad}`);

export const target: FuzzTarget = {
  name: 'messages',
  summary:
    'queue message bodies and Event Grid events through parseMessage: a job or a coded refusal, < 50 ms',
  coverage: ['/src/jobs/messages.ts', '/src/errors.ts'],
  maxInputBytes: 70 * 1024,
  defaultSeconds: 30,
  dictionary: [
    '{"video":"',
    '"id":"',
    '"options":{',
    '"}',
    '[{',
    '}]',
    '"eventType":"Microsoft.Storage.BlobCreated"',
    '"specversion":"1.0"',
    '"type":"Microsoft.Storage.BlobCreated"',
    '"data":{"url":"',
    '"topic":"/storageAccounts/acct"',
    '"source":"/storageAccounts/other"',
    '"subject":"/blobServices/default/containers/videos/blobs/',
    'https://acct.blob.core.windows.net/videos/',
    'http://127.0.0.1:10000/devstoreaccount1/videos/',
    '%2F',
    '%2e%2e',
    '%00',
    '%ZZ',
    '..',
    '/',
    '//',
    '\\',
    '\u2028',
    '\\ud800',
    '?sig=',
    '&sig=',
    '==',
    '"',
    'eyJ2aWRlbyI6',
    '\ufeff',
  ],
  generator: body.map((b) => new Uint8Array(Buffer.from(b, 'utf8'))),
  run: runOne,
  stats: () => tally.get(),
};
