import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { etagMatches, parseRange } from '../src/hosts/http/range.js';

const SIZE = 10_000;

describe('parseRange', () => {
  test('a closed range is sent as asked', () => {
    assert.deepEqual(parseRange('bytes=0-3', SIZE), { start: 0, end: 3 });
    assert.deepEqual(parseRange('bytes=9999-9999', SIZE), { start: 9999, end: 9999 });
  });

  test('a suffix range is the last n bytes, the whole file when n exceeds it', () => {
    assert.deepEqual(parseRange('bytes=-500', SIZE), { start: 9500, end: 9999 });
    assert.deepEqual(parseRange('bytes=-20000', SIZE), { start: 0, end: 9999 });
  });

  test('an open range runs to the end', () => {
    assert.deepEqual(parseRange('bytes=9500-', SIZE), { start: 9500, end: 9999 });
    assert.deepEqual(parseRange('bytes=0-', SIZE), { start: 0, end: 9999 });
  });

  test('the unit and spaces are read leniently', () => {
    assert.deepEqual(parseRange('Bytes = 0 - 3', SIZE), { start: 0, end: 3 });
  });

  test('an end past the last byte is clamped to it', () => {
    assert.deepEqual(parseRange('bytes=9000-20000', SIZE), { start: 9000, end: 9999 });
  });

  test('a range starting at or beyond the end is unsatisfiable (416)', () => {
    assert.equal(parseRange('bytes=10000-', SIZE), 'unsatisfiable');
    assert.equal(parseRange('bytes=10000-10005', SIZE), 'unsatisfiable');
    assert.equal(parseRange('bytes=20000-30000', SIZE), 'unsatisfiable');
  });

  test('a zero-length suffix or any range of an empty resource is unsatisfiable', () => {
    assert.equal(parseRange('bytes=-0', SIZE), 'unsatisfiable');
    assert.equal(parseRange('bytes=0-', 0), 'unsatisfiable');
    assert.equal(parseRange('bytes=-5', 0), 'unsatisfiable');
  });

  test('a reversed range is invalid and ignored: the whole resource is sent', () => {
    assert.equal(parseRange('bytes=5-2', SIZE), undefined);
  });

  test('no header, another unit or a malformed header is ignored', () => {
    for (const header of [
      undefined,
      '',
      'bytes=',
      'bytes=-',
      'bytes=abc',
      'bytes=0-3x',
      'bytes=1.5-3',
      'bytes=-3-4',
      'items=0-3',
      '0-3',
    ]) {
      assert.equal(parseRange(header, SIZE), undefined, `header ${JSON.stringify(header)}`);
    }
  });

  test('several ranges are ignored: the whole resource is sent (no multipart)', () => {
    assert.equal(parseRange('bytes=0-1,5-6', SIZE), undefined);
    assert.equal(parseRange('bytes=0-1, -5', SIZE), undefined);
  });

  test('huge numbers never produce a range outside the resource', () => {
    const huge = '99999999999999999999999';
    assert.equal(parseRange(`bytes=${huge}-`, SIZE), 'unsatisfiable');
    assert.equal(parseRange(`bytes=${huge}-${huge}`, SIZE), 'unsatisfiable');
    assert.deepEqual(parseRange(`bytes=0-${huge}`, SIZE), { start: 0, end: 9999 });
    assert.deepEqual(parseRange(`bytes=-${huge}`, SIZE), { start: 0, end: 9999 });
    assert.deepEqual(parseRange('bytes=9007199254740993-', 2 ** 60), 'unsatisfiable');
  });
});

describe('etagMatches', () => {
  test('matches the same tag, weak or strong, in a list, or *', () => {
    assert.equal(etagMatches('"a"', '"a"'), true);
    assert.equal(etagMatches('W/"a"', '"a"'), true);
    assert.equal(etagMatches('"b", "a"', '"a"'), true);
    assert.equal(etagMatches('*', '"a"'), true);
  });

  test('another tag, no header or no etag never match', () => {
    assert.equal(etagMatches('"b"', '"a"'), false);
    assert.equal(etagMatches(undefined, '"a"'), false);
    assert.equal(etagMatches('"a"', ''), false);
  });
});
