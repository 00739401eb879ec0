import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { classifyStorageError, isConcurrencyConflict, storageError } from '../src/adapters/errors.js';
import { ThumbnailerError, errorBody } from '../src/errors.js';
import { JobStop, jobController, stopOf } from '../src/jobs/stop.js';
import { validateSubmission } from '../src/jobs/submit.js';

const STORAGE = {
  blobs: { endpoint: 'https://acct.blob.core.windows.net/' },
  accountName: 'acct',
  videoContainer: 'videos',
};

function refusal(body: unknown): ThumbnailerError {
  try {
    validateSubmission(body, STORAGE);
  } catch (error) {
    assert.ok(ThumbnailerError.is(error), String(error));
    return error;
  }
  assert.fail(`${JSON.stringify(body)} was accepted`);
}

describe('submission', () => {
  test('a valid job keeps its id and options; a blob URL of the account becomes its name', () => {
    assert.deepEqual(validateSubmission({ id: 'j-1', video: 'a/b.mp4', options: { rows: 2 } }, STORAGE), {
      id: 'j-1',
      video: 'a/b.mp4',
      options: { rows: 2 },
    });
    assert.equal(
      validateSubmission({ video: 'https://acct.blob.core.windows.net/videos/x%20y.mp4' }, STORAGE).video,
      'x y.mp4',
    );
  });

  test('every refusal names its field as data', () => {
    const cases: [unknown, string, string][] = [
      [{ video: 'a/../b.mp4' }, 'E_MESSAGE_INVALID', 'video'],
      [{ video: 5 }, 'E_MESSAGE_INVALID', 'video'],
      [{ video: 'https://other.blob.core.windows.net/videos/a.mp4' }, 'E_URL_REFUSED', 'video'],
      [{ video: 'a.mp4', id: 'no spaces' }, 'E_MESSAGE_INVALID', 'id'],
      [{ video: 'a.mp4', extra: 1 }, 'E_MESSAGE_INVALID', 'extra'],
      [{ video: 'a.mp4', options: [] }, 'E_MESSAGE_INVALID', 'options'],
      [{ video: 'a.mp4', options: { rows: 0 } }, 'E_OPTION_INVALID', 'options.rows'],
      [{ video: 'a.mp4', options: { colour: 'red' } }, 'E_OPTION_INVALID', 'options.colour'],
      [{ video: 'a.mp4', options: { outputs: ['film'] } }, 'E_OPTION_INVALID', 'options.outputs.0'],
    ];
    for (const [body, code, field] of cases) {
      const e = refusal(body);
      assert.equal(e.code, code, JSON.stringify(body));
      assert.equal(e.field, field, JSON.stringify(body));
      assert.equal(errorBody(e).error.field, field);
    }
  });

  test('the error body hides the message of a 5xx and keeps a 4xx one', () => {
    assert.deepEqual(errorBody(new ThumbnailerError('E_INTERNAL', 'secret detail')), {
      error: { code: 'E_INTERNAL', message: 'Internal error (E_INTERNAL)' },
    });
    assert.equal(errorBody(new ThumbnailerError('E_NOT_FOUND', 'No job "x"')).error.message, 'No job "x"');
  });
});

describe('why a job stopped', () => {
  test('a job timeout aborts with its own code, readable from the signal as data', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const job = jobController(60_000);
    t.mock.timers.tick(59_999);
    assert.equal(job.signal.aborted, false);
    t.mock.timers.tick(1);
    const stop = stopOf(job.signal);
    assert.equal(stop?.kind, 'timeout');
    assert.equal(stop?.code, 'E_JOB_TIMEOUT');
    assert.equal(stop?.permanent, false);
    job.dispose();
  });

  test('the first reason wins; shutdown and a lost claim have codes of their own', () => {
    const job = jobController(60_000);
    job.stop(JobStop.shutdown('worker'));
    job.stop(JobStop.claimLost('a.mp4'));
    job.dispose();
    assert.equal(stopOf(job.signal)?.code, 'E_CANCELED');
    assert.equal(JobStop.claimLost('a.mp4').code, 'E_CLAIM_LOST');
    const plain = new AbortController();
    plain.abort(new Error('other'));
    assert.equal(stopOf(plain.signal), undefined);
  });
});

describe('one storage classifier', () => {
  const rest = (statusCode: number) => Object.assign(new Error(`status ${statusCode}`), { statusCode });
  test('reads the verdict through the ThumbnailerError that wraps an SDK failure', () => {
    assert.equal(classifyStorageError(storageError(rest(404), 'x')), 'not-found');
    assert.equal(classifyStorageError(storageError(rest(503), 'x')), 'transient');
    assert.equal(classifyStorageError(storageError(rest(400), 'x')), 'permanent');
    assert.equal(isConcurrencyConflict(storageError(rest(412), 'x')), true);
    assert.equal(isConcurrencyConflict(rest(409)), true);
    assert.equal(isConcurrencyConflict(rest(404)), false);
  });
});
