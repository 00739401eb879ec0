import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { choosePoster } from '../src/engine/poster.js';
import { sniffContainer } from '../src/engine/sniff.js';

const flat = (value: number) => new Uint8Array(64 * 36).fill(value);
const detailed = (base: number, spread: number) =>
  Uint8Array.from({ length: 64 * 36 }, (_, i) => base + ((i * 37) % spread));

describe('poster choice', () => {
  test('never black, blank or faded when a detailed frame exists', () => {
    const frames = [flat(0), flat(255), detailed(5, 20), detailed(60, 120), flat(128)];
    assert.equal(choosePoster(frames).index, 3);
  });

  test('a dark video still gets its best frame', () => {
    assert.equal(choosePoster([flat(0), detailed(2, 12), flat(1)]).index, 1);
  });
});

describe('container recognition by bytes', () => {
  const bytes = (text: string, pad = 400) => {
    const b = new Uint8Array(Math.max(pad, text.length));
    b.set(Buffer.from(text, 'latin1'));
    return b;
  };

  test('playlists and concat lists are refused whatever their name', () => {
    for (const text of [
      '#EXTM3U\n#EXTINF:1,\nfile:///etc/passwd',
      'ffconcat version 1.0\nfile /etc/passwd',
      "file '/etc/passwd'",
    ]) {
      assert.throws(() => sniffContainer(bytes(text), 400), { code: 'E_FORMAT_REFUSED' });
    }
  });

  test('MP4, Matroska and MPEG-TS are recognised, images and noise refused', () => {
    assert.equal(sniffContainer(bytes('\0\0\0\x20ftypisom'), 400).demuxer, 'mov');
    assert.equal(sniffContainer(Uint8Array.from([0x1a, 0x45, 0xdf, 0xa3, 0, 0]), 6).demuxer, 'matroska');
    const ts = new Uint8Array(400);
    ts[0] = ts[188] = ts[376] = 0x47;
    assert.equal(sniffContainer(ts, 400).demuxer, 'mpegts');
    assert.throws(() => sniffContainer(Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 1, 2, 3]), 7), {
      code: 'E_NOT_A_VIDEO',
      message: /PNG/,
    });
    assert.throws(() => sniffContainer(Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]), 12), {
      code: 'E_NOT_A_VIDEO',
    });
    assert.throws(() => sniffContainer(new Uint8Array(0), 0), { code: 'E_INPUT_EMPTY' });
  });
});
