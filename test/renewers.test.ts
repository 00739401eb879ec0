import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { storageError } from '../src/adapters/errors.js';
import { ClaimRenewer } from '../src/jobs/claims.js';
import { VisibilityRenewer } from '../src/hosts/worker/renewer.js';

/** Lets promise callbacks queued by a fired timer run. */
const flush = async () => {
  for (let i = 0; i < 5; i++) await Promise.resolve();
};

const restError = (statusCode: number) => Object.assign(new Error(`status ${statusCode}`), { statusCode });

describe('ClaimRenewer', () => {
  test('renews at half the time to live, again and again, until closed', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const calls: [string, string, number][] = [];
    const renewer = new ClaimRenewer(
      { renewClaim: async (video, owner, ttl) => (calls.push([video, owner, ttl]), true) },
      'a.mp4',
      'msg-1',
      10_000,
    );
    let renewed = 0;
    renewer.on('renewed', () => renewed++);
    renewer.start();
    t.mock.timers.tick(4_999);
    await flush();
    assert.equal(calls.length, 0, 'not before half the time to live');
    t.mock.timers.tick(1);
    await flush();
    assert.deepEqual(calls, [['a.mp4', 'msg-1', 10_000]]);
    t.mock.timers.tick(5_000);
    await flush();
    assert.equal(calls.length, 2);
    assert.equal(renewed, 2);
    await renewer.close();
    t.mock.timers.tick(50_000);
    await flush();
    assert.equal(calls.length, 2, 'nothing after close');
  });

  test('a claim that is no longer ours is reported lost once, and renewal stops', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    let calls = 0;
    const renewer = new ClaimRenewer({ renewClaim: async () => (calls++, false) }, 'a.mp4', 'msg-1', 2_000);
    const lost: string[] = [];
    renewer.on('lost', (video) => lost.push(video));
    renewer.start();
    t.mock.timers.tick(1_000);
    await flush();
    t.mock.timers.tick(10_000);
    await flush();
    assert.deepEqual(lost, ['a.mp4']);
    assert.equal(calls, 1);
  });

  test('a failed renewal is an error event, never a rejection, and the next one still comes', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    let calls = 0;
    const renewer = new ClaimRenewer(
      {
        renewClaim: async () => {
          calls++;
          if (calls === 1) throw restError(503);
          return true;
        },
      },
      'a.mp4',
      'msg-1',
      2_000,
    );
    const errors: unknown[] = [];
    renewer.on('error', (_video, error) => errors.push(error));
    renewer.start();
    t.mock.timers.tick(1_000);
    await flush();
    t.mock.timers.tick(1_000);
    await flush();
    assert.equal(errors.length, 1);
    assert.equal(calls, 2);
    await renewer.close();
  });
});

describe('VisibilityRenewer', () => {
  test('renews every tracked message at half the visibility timeout, keeping the newest receipt', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    let n = 0;
    const seen: [string, string, number][] = [];
    const renewer = new VisibilityRenewer(
      {
        setVisibility: async (id, receipt, seconds) => {
          seen.push([id, receipt, seconds]);
          return `${id}-r${++n}`;
        },
      },
      30,
    );
    const held = renewer.track('m1', 'm1-r0');
    t.mock.timers.tick(15_000);
    await flush();
    assert.deepEqual(seen, [['m1', 'm1-r0', 30]]);
    assert.equal(held.popReceipt, 'm1-r1');
    t.mock.timers.tick(15_000);
    await flush();
    assert.deepEqual(seen[1], ['m1', 'm1-r1', 30], 'the newest receipt is used');
    assert.equal(await renewer.untrack('m1'), 'm1-r2');
    t.mock.timers.tick(60_000);
    await flush();
    assert.equal(seen.length, 2, 'an untracked message is not renewed');
  });

  test('a message whose receipt was superseded (400) or that is gone (404) is lost, not retried', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const renewer = new VisibilityRenewer(
      {
        setVisibility: async (id) => {
          // As the queue adapter throws it: a ThumbnailerError around the SDK's RestError.
          throw storageError(restError(id === 'gone' ? 404 : 400), 'renewing a message');
        },
      },
      10,
    );
    const lost: string[] = [];
    renewer.on('lost', (id) => lost.push(id));
    const a = renewer.track('gone', 'r');
    const b = renewer.track('taken', 'r');
    t.mock.timers.tick(5_000);
    await flush();
    assert.deepEqual(lost.sort(), ['gone', 'taken']);
    assert.equal(a.held, false);
    assert.equal(b.held, false);
    assert.equal(renewer.size, 0);
  });

  test('an outage is an error event and the message stays tracked', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const renewer = new VisibilityRenewer(
      {
        setVisibility: async () => {
          throw restError(503);
        },
      },
      10,
    );
    const errors: unknown[] = [];
    renewer.on('error', (error) => errors.push(error));
    const held = renewer.track('m', 'r');
    t.mock.timers.tick(5_000);
    await flush();
    assert.equal(errors.length, 1);
    assert.equal(held.held, true);
    assert.equal(renewer.size, 1);
    await renewer.close();
  });
});
