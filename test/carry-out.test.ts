import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ThumbnailerError } from '../src/errors.js';
import { carryOut, type DeliveryPort } from '../src/jobs/carry-out.js';
import type { Decision } from '../src/jobs/types.js';

/**
 * `carryOut` through a port that writes down what it was asked: the one meaning of each decision,
 * whichever host delivers the message (worker.test.ts and functions.test.ts run it for real).
 */
function recordingPort(options: { copyFails?: boolean; redeliverThrows?: boolean } = {}) {
  const calls: string[] = [];
  const port: DeliveryPort = {
    message: { id: 'm1', text: 'clips/a.mp4?sig=SECRET', dequeueCount: 2 },
    info: { jobId: 'j1', video: 'clips/a.mp4' },
    finish: async () => void calls.push('finish'),
    redeliver: async (delayMs, error) => {
      calls.push(`redeliver ${delayMs} ${error.code}`);
      if (options.redeliverThrows) throw error;
    },
    queue: {
      send: async (text, o) => {
        if (options.copyFails) throw new ThumbnailerError('E_STORAGE_UNAVAILABLE', 'queue down');
        calls.push(`copy ${text} visible in ${o?.visibilityTimeoutSeconds}s`);
        return 'copy-id';
      },
    },
    poison: {
      send: async (text, o) => {
        const body = JSON.parse(text) as Record<string, unknown>;
        const error = body.error as { code: string };
        calls.push(`poison ${error.code} ${String(body.message)} ttl ${o?.timeToLiveSeconds}`);
        return 'poison-id';
      },
    },
    settled: (event, e) => calls.push(`${event} ${e.jobId} attempt ${e.attempt}`),
    onError: (error) => calls.push(`error ${(error as ThumbnailerError).code}`),
  };
  return { port, calls };
}

const failure = new ThumbnailerError('E_FFMPEG_FAILED', 'ffmpeg crashed');
const info = { jobId: 'j1', video: 'clips/a.mp4' };

describe('carryOut: what each decision means', () => {
  test('ack: the message goes, then it is reported completed', async () => {
    const { port, calls } = recordingPort();
    const decision: Decision = {
      action: 'ack',
      outcome: { kind: 'ignored', form: 'event-grid', reason: 'outside the videos container', totalMs: 1 },
    };
    await carryOut(decision, port);
    assert.deepEqual(calls, ['finish', 'completed j1 attempt 2']);
  });

  test('retry: handed back for the backoff (counted), then reported', async () => {
    const { port, calls } = recordingPort();
    await carryOut({ action: 'retry', error: failure, delayMs: 4000, info }, port);
    assert.deepEqual(calls, ['redeliver 4000 E_FFMPEG_FAILED', 'failed j1 attempt 2']);
  });

  test('poison: the original (redacted) and the reason go to the poison queue for good, then the message goes', async () => {
    const { port, calls } = recordingPort();
    await carryOut({ action: 'poison', error: failure, info }, port);
    assert.deepEqual(calls, [
      'poison E_FFMPEG_FAILED clips/a.mp4?sig=REDACTED ttl -1',
      'finish',
      'poisoned j1 attempt 2',
    ]);
  });

  test('wait and release: a fresh copy, visible after the wait or at once, then the message goes', async () => {
    const waiting = recordingPort();
    await carryOut({ action: 'wait', reason: 'video-busy', delayMs: 7200, info }, waiting.port);
    assert.deepEqual(waiting.calls, [
      'copy clips/a.mp4?sig=SECRET visible in 8s',
      'finish',
      'deferred j1 attempt 2',
    ]);
    const released = recordingPort();
    const shutdown = new ThumbnailerError('E_CANCELED', 'shutting down');
    await carryOut({ action: 'release', error: shutdown, info }, released.port);
    assert.deepEqual(released.calls, [
      'copy clips/a.mp4?sig=SECRET visible in 0s',
      'finish',
      'released j1 attempt 2',
    ]);
  });

  test('a copy that cannot be queued hands the original back instead (counted), and nothing is lost', async () => {
    const { port, calls } = recordingPort({ copyFails: true });
    await carryOut({ action: 'wait', reason: 'duplicate', delayMs: 3000, info }, port);
    assert.deepEqual(calls, [
      'error E_STORAGE_UNAVAILABLE',
      'redeliver 3000 E_STORAGE_UNAVAILABLE',
      'deferred j1 attempt 2',
    ]);
    // Should the hand-back fail too (storage down), the failure reaches the host, and the message
    // comes back after its visibility timeout.
    const down = recordingPort({ copyFails: true, redeliverThrows: true });
    await assert.rejects(
      carryOut({ action: 'wait', reason: 'duplicate', delayMs: 3000, info }, down.port),
      /queue down/,
    );
    assert.ok(!down.calls.includes('finish'), 'the original is never finished');
    assert.ok(!down.calls.some((c) => c.startsWith('deferred')), 'nothing is reported done with');
  });
});
