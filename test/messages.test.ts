import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ThumbnailerError } from '../src/errors.js';
import { decodeBody, parseMessage, validateBlobName, type MessageContext } from '../src/jobs/messages.js';
import { canonicalJson } from '../src/jobs/digest.js';
import { decide, poisonBody, retryDelayMs } from '../src/jobs/policy.js';

const AZURE: MessageContext = {
  videoContainer: 'videos',
  blobEndpoint: 'https://acct.blob.core.windows.net/',
  accountName: 'acct',
};
const EMULATOR: MessageContext = {
  videoContainer: 'videos',
  blobEndpoint: 'http://127.0.0.1:10000/devstoreaccount1',
  accountName: 'devstoreaccount1',
};
const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

function rejects(body: string, code: string, pattern?: RegExp, ctx = AZURE): ThumbnailerError {
  try {
    parseMessage(body, ctx);
  } catch (error) {
    assert.ok(ThumbnailerError.is(error), String(error));
    assert.equal(error.code, code, error.message);
    assert.equal(error.permanent, true);
    if (pattern) assert.match(error.message, pattern);
    return error;
  }
  assert.fail(`${body} was accepted`);
}

const blobCreated = (url: string, account = 'acct') => ({
  id: '0c8e1a3c-7f2b-4e9a-9f0d-1a2b3c4d5e6f',
  topic: `/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/${account}`,
  subject: '/blobServices/default/containers/videos/blobs/holiday/beach.mp4',
  eventType: 'Microsoft.Storage.BlobCreated',
  eventTime: '2024-01-01T00:00:00Z',
  dataVersion: '',
  data: { api: 'PutBlob', url },
});

describe('queue message parser', () => {
  test('form 1: a blob name, plain or base64', () => {
    for (const body of ['holiday/beach.mp4', b64('holiday/beach.mp4'), '  holiday/beach.mp4\n']) {
      const m = parseMessage(body, AZURE);
      assert.equal(m.kind, 'job');
      assert.equal(m.kind === 'job' && m.video, 'holiday/beach.mp4');
      assert.equal(m.form, 'name');
    }
    assert.equal(
      parseMessage(b64('a.mp4'), AZURE).kind === 'job' && parseMessage(b64('a.mp4'), AZURE).base64,
      true,
    );
    // Names with spaces and unicode are fine.
    const m = parseMessage('Été 2024/plage à Nice.mp4', AZURE);
    assert.equal(m.kind === 'job' && m.video, 'Été 2024/plage à Nice.mp4');
  });

  test('form 2: a blob URL of the configured account, percent-decoded, query ignored', () => {
    const m = parseMessage(
      'https://acct.blob.core.windows.net/videos/holiday/beach%20day.mp4?sv=1&sig=secret',
      AZURE,
    );
    assert.deepEqual(m.kind === 'job' && [m.form, m.video], ['url', 'holiday/beach day.mp4']);
    const e = parseMessage(b64('http://127.0.0.1:10000/devstoreaccount1/videos/a/b.mp4'), EMULATOR);
    assert.deepEqual(e.kind === 'job' && [e.form, e.video, e.base64], ['url', 'a/b.mp4', true]);
  });

  test('form 2: URLs elsewhere are refused with the reason', () => {
    rejects(
      'https://other.blob.core.windows.net/videos/a.mp4',
      'E_URL_REFUSED',
      /not in the configured storage account/,
    );
    rejects('https://acct.blob.core.windows.net.evil.com/videos/a.mp4', 'E_URL_REFUSED');
    rejects('http://acct.blob.core.windows.net/videos/a.mp4', 'E_URL_REFUSED'); // scheme differs
    rejects('https://user:pw@acct.blob.core.windows.net/videos/a.mp4', 'E_URL_REFUSED', /credentials/);
    rejects('file:///etc/passwd', 'E_URL_REFUSED');
    rejects('https://acct.blob.core.windows.net/thumbnails/a.mp4', 'E_URL_REFUSED', /not in "videos"/);
    rejects('http://127.0.0.1:10000/otheraccount/videos/a.mp4', 'E_URL_REFUSED', undefined, EMULATOR);
    rejects('https://acct.blob.core.windows.net/videos/', 'E_MESSAGE_INVALID', /does not name a blob/);
    const e = rejects('https://other.blob.core.windows.net/videos/a.mp4?sig=TOPSECRET', 'E_URL_REFUSED');
    assert.doesNotMatch(e.message, /TOPSECRET/);
  });

  test('form 3: a JSON job with id and options; video as name or URL', () => {
    const m = parseMessage(JSON.stringify({ id: 'job-1', video: 'a.mp4', options: { rows: 2 } }), AZURE);
    assert.deepEqual(m, {
      kind: 'job',
      form: 'json',
      video: 'a.mp4',
      id: 'job-1',
      options: { rows: 2 },
      base64: false,
    });
    const u = parseMessage(
      b64(JSON.stringify({ video: 'https://acct.blob.core.windows.net/videos/x/y.mov' })),
      AZURE,
    );
    assert.deepEqual(u.kind === 'job' && [u.video, u.id, u.base64], ['x/y.mov', undefined, true]);
    rejects('{"video": 3}', 'E_MESSAGE_INVALID', /needs "video"/);
    rejects('{"video": "a.mp4", "id": "../x"}', 'E_MESSAGE_INVALID', /"id"/);
    rejects('{"video": "a.mp4", "options": [1]}', 'E_MESSAGE_INVALID', /"options"/);
    rejects('{"video": "a.mp4", "extra": 1}', 'E_MESSAGE_INVALID', /unknown field/);
    rejects('{"video": "a.mp4"', 'E_MESSAGE_INVALID', /does not parse/);
    rejects('[1, 2]', 'E_MESSAGE_INVALID', /array of 2/);
    const quoted = parseMessage('"holiday/beach.mp4"', AZURE);
    assert.deepEqual(quoted.kind === 'job' && [quoted.form, quoted.video], ['name', 'holiday/beach.mp4']);
    rejects('"unterminated', 'E_MESSAGE_INVALID', /quote/);
  });

  test('form 4: Event Grid BlobCreated in both schemas; other containers and types ignored', () => {
    const url = 'https://acct.blob.core.windows.net/videos/holiday/beach.mp4';
    const eg = parseMessage(b64(JSON.stringify(blobCreated(url))), AZURE);
    assert.deepEqual(eg.kind === 'job' && [eg.form, eg.video, eg.id], [
      'event-grid',
      'holiday/beach.mp4',
      '0c8e1a3c-7f2b-4e9a-9f0d-1a2b3c4d5e6f',
    ]);
    const batch = parseMessage(JSON.stringify([blobCreated(url)]), AZURE);
    assert.equal(batch.kind, 'job');
    const ce = parseMessage(
      JSON.stringify({
        specversion: '1.0',
        type: 'Microsoft.Storage.BlobCreated',
        source: '/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/acct',
        id: 'ce-1',
        subject: '/blobServices/default/containers/videos/blobs/holiday/beach.mp4',
        data: { url },
      }),
      AZURE,
    );
    assert.deepEqual(ce.kind === 'job' && [ce.form, ce.video], ['cloud-event', 'holiday/beach.mp4']);
    // No data.url: the subject names the blob.
    const noUrl = { ...blobCreated(url), data: {} };
    assert.equal(parseMessage(JSON.stringify(noUrl), AZURE).kind, 'job');

    const own = parseMessage(
      JSON.stringify(blobCreated('https://acct.blob.core.windows.net/thumbnails/x.mp4/strip.jpg')),
      AZURE,
    );
    assert.equal(own.kind, 'ignore');
    assert.match(own.kind === 'ignore' ? own.reason : '', /thumbnails/);
    const deleted = parseMessage(
      JSON.stringify({ ...blobCreated(url), eventType: 'Microsoft.Storage.BlobDeleted' }),
      AZURE,
    );
    assert.equal(deleted.kind, 'ignore');
    rejects(JSON.stringify(blobCreated('https://other.blob.core.windows.net/videos/a.mp4')), 'E_URL_REFUSED');
    rejects(JSON.stringify(blobCreated(url, 'otheraccount')), 'E_URL_REFUSED', /otheraccount/);
    rejects(JSON.stringify({ ...blobCreated(url), data: {}, subject: '/nonsense' }), 'E_MESSAGE_INVALID');
  });

  test('blob names that could escape the output folder are refused', () => {
    for (const bad of [
      '../x.mp4',
      'a/../../b.mp4',
      'a/./b.mp4',
      '/abs.mp4',
      'a//b.mp4',
      'dir/',
      'a\\..\\b.mp4',
      'a\u0000b',
      'new\nline.mp4',
      'a/b./c.mp4',
      ' lead.mp4',
      'x'.repeat(961),
    ]) {
      assert.throws(
        () => validateBlobName(bad),
        (e: unknown) => ThumbnailerError.is(e) && e.code === 'E_MESSAGE_INVALID',
        JSON.stringify(bad),
      );
    }
    for (const body of [
      '../../etc/passwd',
      b64('../../etc/passwd'),
      '{"video":"../x.mp4"}',
      'https://acct.blob.core.windows.net/videos/a/%2E%2E/%2E%2E/b.mp4',
    ]) {
      rejects(body, 'E_MESSAGE_INVALID');
    }
    assert.equal(validateBlobName('a/b c/d.e.mp4'), 'a/b c/d.e.mp4');
    rejects('', 'E_MESSAGE_INVALID', /empty/);
    rejects('x'.repeat(70_000), 'E_MESSAGE_INVALID', /larger/);
  });

  test('base64 detection keeps plain names that only look like base64', () => {
    assert.deepEqual(decodeBody('test'), { text: 'test', base64: false }); // decodes to invalid UTF-8
    assert.deepEqual(decodeBody('a.mp4'), { text: 'a.mp4', base64: false });
    assert.deepEqual(decodeBody(b64('{"video":"a"}')), { text: '{"video":"a"}', base64: true });
    assert.deepEqual(decodeBody('AAAA'), { text: 'AAAA', base64: false }); // NUL bytes
  });
});

describe('retry and poison decisions', () => {
  const deps = { maxDeliveries: 5, retryBaseMs: 1000, retryMaxMs: 10_000 };
  test('permanent errors are poisoned on the first delivery, transient ones on the fifth', () => {
    assert.equal(decide(new ThumbnailerError('E_NOT_A_VIDEO', 'x'), 1, deps).action, 'poison');
    assert.equal(decide(new ThumbnailerError('E_STORAGE_UNAVAILABLE', 'x'), 1, deps).action, 'retry');
    assert.equal(decide(new ThumbnailerError('E_STORAGE_UNAVAILABLE', 'x'), 4, deps).action, 'retry');
    assert.equal(decide(new ThumbnailerError('E_STORAGE_UNAVAILABLE', 'x'), 5, deps).action, 'poison');
    assert.equal(decide(new Error('unknown'), 1, deps).action, 'retry');
  });

  test('backoff doubles per delivery, with jitter, capped', () => {
    const mid = () => 0.5;
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6].map((n) => retryDelayMs(n, 1000, 10_000, mid)),
      [1000, 2000, 4000, 8000, 10_000, 10_000],
    );
    assert.equal(
      retryDelayMs(1, 1000, 10_000, () => 0),
      800,
    );
    assert.equal(
      retryDelayMs(1, 1000, 10_000, () => 1),
      1200,
    );
  });

  test('the poison body keeps the original message and the last error', () => {
    const body = JSON.parse(
      poisonBody(
        { id: 'm', text: 'orig', dequeueCount: 5 },
        { code: 'E_FFMPEG_FAILED', message: 'boom' },
        { jobId: 'j', video: 'v.mp4' },
      ),
    );
    assert.deepEqual(
      [body.message, body.error, body.dequeueCount, body.jobId],
      ['orig', { code: 'E_FFMPEG_FAILED', message: 'boom' }, 5, 'j'],
    );
  });

  test('options compare regardless of key order', () => {
    assert.equal(
      canonicalJson({ b: 1, a: [1, { d: 2, c: 3 }] }),
      canonicalJson({ a: [1, { c: 3, d: 2 }], b: 1 }),
    );
  });
});
