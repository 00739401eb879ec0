import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { CloudEvent, HTTP } from 'cloudevents';
import { Webhook } from 'standardwebhooks';
import type { Settings } from '../src/config.js';
import { loadSettings } from '../src/config.js';
import { redactSecrets } from '../src/errors.js';
import { handleMessage } from '../src/jobs/handler.js';
import { createMetrics } from '../src/hosts/worker/metrics.js';
import { COMPLETED_TYPE, FAILED_TYPE } from '../src/jobs/events/event.js';
import { startAzurite, type TestAzurite } from './support/azurite.js';
import { media } from './support/media.js';
import { memoryLogger, startTestWorker, waitFor } from './support/worker.js';

/**
 * Completion events (docs/contract.md section 10) from the real worker, engine and Azurite, to a real
 * HTTP receiver on 127.0.0.1, checked with the packages a receiver would use.
 */

const SECRET = `whsec_${randomBytes(32).toString('base64')}`;
/** A key in the webhook URL's query (as Azure Functions' `?code=` is): never to be logged. */
const URL_KEY = `k${randomBytes(12).toString('hex')}`;

interface Delivery {
  headers: IncomingHttpHeaders;
  body: string;
}

/** An HTTP receiver answering `status()` to every POST, recording what came. */
async function receiver(port = 0, status: () => number = () => 204) {
  const deliveries: Delivery[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      deliveries.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.statusCode = status();
      res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return {
    deliveries,
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A loopback port with nothing listening on it (yet). */
async function freePort(): Promise<number> {
  const r = await receiver();
  await r.close();
  return r.port;
}

function verifySignature(delivery: Delivery): unknown {
  const h = delivery.headers;
  return new Webhook(SECRET).verify(delivery.body, {
    'webhook-id': String(h['webhook-id']),
    'webhook-timestamp': String(h['webhook-timestamp']),
    'webhook-signature': String(h['webhook-signature']),
  });
}

/** Parsed and validated the way a receiver's CloudEvents SDK does it. */
function cloudEventOf(delivery: Delivery): CloudEvent<Record<string, unknown>> {
  const event = HTTP.toEvent({ headers: delivery.headers, body: delivery.body });
  assert.ok(!Array.isArray(event));
  const e = event as CloudEvent<Record<string, unknown>>;
  assert.equal(e.validate(), true);
  return e;
}

let azurite: TestAzurite;

before(async () => {
  azurite = await startAzurite();
});
after(async () => {
  await azurite?.stop();
});

async function harness(
  webhookPort: number,
  webhook: Partial<NonNullable<Settings['events']['webhook']>> = {},
) {
  const { queueName } = azurite.names('e');
  const w = await startTestWorker(azurite, {
    start: false,
    events: {
      queueName,
      webhook: {
        url: `http://127.0.0.1:${webhookPort}/hooks/thumbnails?code=${URL_KEY}`,
        secret: SECRET,
        attempts: 6,
        timeoutMs: 2000,
        retryBaseMs: 200,
        ...webhook,
      },
    },
  });
  const eventsQueue = w.storage.queueNamed(queueName);
  const queued = async () => {
    const bodies = await eventsQueue.peek(32).catch(() => [] as string[]);
    return bodies.map(
      (b) => JSON.parse(Buffer.from(b, 'base64').toString('utf8')) as Record<string, unknown>,
    );
  };
  return {
    settings: w.settings,
    runtime: w.runtime,
    storage: w.storage,
    lines: w.lines,
    queued,
    close: () => w.close(),
  };
}

/** Nothing secret in a text: the webhook secret (or its key), the URL's key, the account key. */
function assertNoSecret(what: string, text: string) {
  assert.ok(!text.includes(SECRET), `${what} holds the webhook secret`);
  assert.ok(!text.includes(SECRET.slice('whsec_'.length)), `${what} holds the webhook key`);
  assert.ok(!text.includes(URL_KEY), `${what} holds the key of the webhook URL`);
  assert.ok(!/AccountKey=[^;R]/.test(text), `${what} holds an account key`);
}

describe('completion events', () => {
  test('a good and a bad video: one event each on the queue and one signed webhook delivery', async () => {
    const hook = await receiver();
    const h = await harness(hook.port);
    try {
      const good = await media('h264');
      await h.storage.blobs.uploadFile(h.settings.videoContainer, 'shows/good.mp4', good);
      await h.storage.blobs.uploadText(h.settings.videoContainer, 'shows/bad.mp4', 'not a video at all');
      await h.storage.queue.send(
        JSON.stringify({ id: 'job-good', video: 'shows/good.mp4', options: { format: 'webp' } }),
      );
      await h.storage.queue.send(JSON.stringify({ id: 'job-bad', video: 'shows/bad.mp4' }));
      h.runtime.worker.start();
      const queued = await waitFor('two events on the queue', async () => {
        const q = await h.queued();
        return q.length >= 2 && q;
      });
      await waitFor('two webhook deliveries', () => hook.deliveries.length >= 2);
      await waitFor('both requests deleted', async () => (await h.storage.queue.depth()) === 0);
      await new Promise((r) => setTimeout(r, 500)); // nothing more arrives
      assert.equal((await h.queued()).length, 2);
      assert.equal(hook.deliveries.length, 2);

      const source = `${h.storage.blobs.endpoint}${h.settings.thumbnailContainer}`;
      for (const delivery of hook.deliveries) {
        assert.match(String(delivery.headers['content-type']), /^application\/cloudevents\+json/);
        verifySignature(delivery); // throws on a bad signature
        const event = cloudEventOf(delivery);
        assert.equal(event.id, delivery.headers['webhook-id']);
        assert.equal(event.source, source);
        const fromQueue = queued.find((q) => q.id === event.id);
        assert.ok(fromQueue, 'the queue carries the same event');
        assert.equal(new CloudEvent(fromQueue as never).validate(), true);
        assert.equal(fromQueue.type, event.type);
      }
      const byType = (t: string) => hook.deliveries.map(cloudEventOf).find((e) => e.type === t)!;
      const done = byType(COMPLETED_TYPE);
      assert.equal(done.subject, 'shows/good.mp4');
      assert.equal(done.data!.jobId, 'job-good');
      assert.equal(done.data!.video, 'shows/good.mp4');
      const props = await h.storage.blobs.getProperties(h.settings.videoContainer, 'shows/good.mp4');
      assert.equal(done.data!.etag, props.etag);
      const outputs = done.data!.outputs as Record<string, string>;
      // The JSON job asked for WebP stills.
      for (const file of ['strip.webp', 'poster.webp', 'storyboard.webp', 'storyboard.vtt', 'manifest.json'])
        assert.equal(
          outputs[file],
          h.storage.blobs.url(h.settings.thumbnailContainer, `shows/good.mp4/${file}`),
        );
      const strip = await h.storage.blobs.getProperties(
        h.settings.thumbnailContainer,
        'shows/good.mp4/strip.webp',
      );
      assert.equal(strip.contentType, 'image/webp');
      // The manifest was committed before the event went out.
      assert.ok(
        await h.storage.blobs.readText(h.settings.thumbnailContainer, 'shows/good.mp4/manifest.json'),
      );

      const failed = byType(FAILED_TYPE);
      assert.equal(failed.subject, 'shows/bad.mp4');
      assert.equal(failed.data!.jobId, 'job-bad');
      const error = failed.data!.error as { code: string; message: string };
      assert.equal(error.code, 'E_NOT_A_VIDEO');
      assert.ok(error.message.length > 0);

      // No secret anywhere: logs, job records, events (queue and webhook).
      assertNoSecret('a log line', JSON.stringify(h.lines));
      for (const id of ['job-good', 'job-bad'])
        assertNoSecret('a job record', JSON.stringify(await h.storage.jobs.get(id)));
      assertNoSecret('an event', JSON.stringify(queued) + hook.deliveries.map((d) => d.body).join());
      // Logs name the webhook by origin and path, never with its query.
      assert.ok(h.lines.some((l) => l.webhook === `http://127.0.0.1:${hook.port}/hooks/thumbnails`));
    } finally {
      await h.close();
      await hook.close();
    }
  });

  test('a redelivered message gives events with the same id', async () => {
    const hook = await receiver();
    const h = await harness(hook.port);
    try {
      await h.storage.blobs.uploadFile(h.settings.videoContainer, 'again.mp4', await media('h264'));
      await h.storage.blobs.uploadText(h.settings.videoContainer, 'broken.mp4', 'garbage');
      const run = { signal: new AbortController().signal };
      const good = { id: 'msg-good', text: 'again.mp4', dequeueCount: 1 };
      const bad = { id: 'msg-bad', text: 'broken.mp4', dequeueCount: 1 };
      // First delivery; then the same messages again, as after a crash before the delete.
      assert.equal((await handleMessage(good, h.runtime.jobDeps, run)).action, 'ack');
      assert.equal((await handleMessage(bad, h.runtime.jobDeps, run)).action, 'poison');
      const again = await handleMessage({ ...good, dequeueCount: 2 }, h.runtime.jobDeps, run);
      assert.equal(again.action === 'ack' && again.outcome.kind, 'skipped');
      assert.equal(
        (await handleMessage({ ...bad, dequeueCount: 2 }, h.runtime.jobDeps, run)).action,
        'poison',
      );

      const events = hook.deliveries.map(cloudEventOf);
      assert.equal(events.length, 4);
      assert.deepEqual(
        events.map((e) => e.type),
        [COMPLETED_TYPE, FAILED_TYPE, COMPLETED_TYPE, FAILED_TYPE],
      );
      assert.equal(events[0]!.id, events[2]!.id);
      assert.equal(events[1]!.id, events[3]!.id);
      assert.notEqual(events[0]!.id, events[1]!.id);
      assert.deepEqual(events[2]!.data, events[0]!.data);
      const queued = await h.queued();
      assert.deepEqual(
        queued.map((q) => q.id),
        events.map((e) => e.id),
      );
      // The webhook-id header is the event id: Standard Webhooks receivers deduplicate on it.
      assert.deepEqual(
        hook.deliveries.map((d) => d.headers['webhook-id']),
        events.map((e) => e.id),
      );
    } finally {
      await h.close();
      await hook.close();
    }
  });

  test('a receiver that is down, then up, gets the event', async () => {
    const port = await freePort();
    const h = await harness(port, { attempts: 8, retryBaseMs: 200 });
    let hook: Awaited<ReturnType<typeof receiver>> | undefined;
    try {
      await h.storage.blobs.uploadFile(h.settings.videoContainer, 'late.mp4', await media('h264'));
      await h.storage.queue.send('late.mp4');
      h.runtime.worker.start();
      await waitFor('a failed webhook attempt logged', () =>
        h.lines.some((l) => l.msg === 'webhook attempt failed: ECONNREFUSED'),
      );
      hook = await receiver(port);
      await waitFor('the event delivered', () => hook!.deliveries.length === 1, 30_000);
      verifySignature(hook.deliveries[0]!);
      assert.equal(cloudEventOf(hook.deliveries[0]!).type, COMPLETED_TYPE);
      await waitFor('the request deleted', async () => (await h.storage.queue.depth()) === 0);
      assertNoSecret('a log line', JSON.stringify(h.lines));
    } finally {
      await h.close();
      await hook?.close();
    }
  });

  test('a webhook that stays down is logged and counted, and the job is still done', async () => {
    const port = await freePort();
    const h = await harness(port, { attempts: 2, retryBaseMs: 50 });
    const metrics = createMetrics({ worker: h.runtime.worker, events: h.runtime.jobDeps.events });
    try {
      await h.storage.blobs.uploadFile(h.settings.videoContainer, 'alone.mp4', await media('h264'));
      await h.storage.queue.send(JSON.stringify({ id: 'job-alone', video: 'alone.mp4' }));
      h.runtime.worker.start();
      await waitFor('the request deleted', async () =>
        (await h.storage.queue.depth()) === 0 && (await h.queued()).length === 1 ? true : undefined,
      );
      const record = await waitFor('the job done', async () => {
        const r = await h.storage.jobs.get('job-alone');
        return r?.status === 'done' && r;
      });
      assert.equal(record.status, 'done');
      assert.ok(h.lines.some((l) => l.level === 50 && String(l.msg).startsWith('webhook not delivered')));
      const text = await metrics.registry.metrics();
      assert.match(text, /thumbnailer_completion_events_total\{channel="webhook",result="failed"\} 1/);
      assert.match(text, /thumbnailer_completion_events_total\{channel="queue",result="delivered"\} 1/);
      assertNoSecret('a log line', JSON.stringify(h.lines));
    } finally {
      await h.close();
    }
  });

  test('a redirect is not followed, a 4xx is not retried, a 503 is', async () => {
    let answers = [503, 307, 204];
    const hook = await receiver(0, () => answers.shift() ?? 204);
    const h = await harness(hook.port, { attempts: 4, retryBaseMs: 20 });
    try {
      const events = h.runtime.jobDeps.events!;
      const end = {
        outcome: 'failed' as const,
        jobId: 'j1',
        video: 'v.mp4',
        error: { code: 'E_X', message: 'x' },
      };
      await events.publish(end, { logger: memoryLogger().logger });
      assert.equal(hook.deliveries.length, 2, '503 retried once, then the redirect ends it');
      answers = [400];
      await events.publish(end, { logger: memoryLogger().logger });
      assert.equal(hook.deliveries.length, 3, 'a 400 is not retried');
    } finally {
      await h.close();
      await hook.close();
    }
  });
});

describe('event settings', () => {
  const base = { AzureWebJobsStorage: 'UseDevelopmentStorage=true' };
  const refused = (env: Record<string, string>, pattern: RegExp) =>
    assert.throws(() => loadSettings({}, { ...base, ...env }), pattern);

  test('webhooks need https except on loopback hosts, and a whsec_ secret; errors never quote them', () => {
    const secret = SECRET;
    refused(
      { THUMBNAILER_WEBHOOK_URL: 'http://example.com/hook', THUMBNAILER_WEBHOOK_SECRET: secret },
      /must use https/,
    );
    refused(
      { THUMBNAILER_WEBHOOK_URL: 'ftp://example.com/hook', THUMBNAILER_WEBHOOK_SECRET: secret },
      /https/,
    );
    refused(
      { THUMBNAILER_WEBHOOK_URL: 'https://u:p@example.com/hook', THUMBNAILER_WEBHOOK_SECRET: secret },
      /credentials/,
    );
    refused({ THUMBNAILER_WEBHOOK_URL: 'https://example.com/hook' }, /THUMBNAILER_WEBHOOK_SECRET: required/);
    refused({ THUMBNAILER_WEBHOOK_SECRET: secret }, /THUMBNAILER_WEBHOOK_URL: required/);
    try {
      loadSettings(
        {},
        {
          ...base,
          THUMBNAILER_WEBHOOK_URL: 'https://example.com/h',
          THUMBNAILER_WEBHOOK_SECRET: 'hunter2hunter2',
        },
      );
      assert.fail('a secret without whsec_ was accepted');
    } catch (error) {
      assert.match(String(error), /THUMBNAILER_WEBHOOK_SECRET: must be whsec_/);
      assert.ok(!String(error).includes('hunter2'));
    }
    refused({ THUMBNAILER_EVENTS_QUEUE: 'thumbnail-requests' }, /must differ/);
    for (const url of [
      'https://example.com/h',
      'http://127.0.0.1:8080/h',
      'http://localhost/h',
      'http://[::1]:9/h',
    ]) {
      const s = loadSettings(
        {},
        { ...base, THUMBNAILER_WEBHOOK_URL: url, THUMBNAILER_WEBHOOK_SECRET: secret },
      );
      assert.equal(s.events.webhook?.url, url);
    }
    assert.deepEqual(loadSettings({}, base).events, {});
    // Should a secret ever be quoted in an error or a log line, it is redacted there.
    assert.ok(!redactSecrets(`secret is ${SECRET}.`).includes(SECRET.slice('whsec_'.length)));
  });
});
