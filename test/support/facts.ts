import type { InputFacts } from '../../src/engine/types.js';

/** Facts of a 300 s 1080p H.264 video, square pixels, for pure planning tests; `over` changes some. */
export const facts = (over: Partial<InputFacts> = {}): InputFacts => ({
  name: 'v.mp4',
  size: 1,
  container: 'mp4',
  duration: 300,
  codec: 'h264',
  width: 1920,
  height: 1080,
  displayWidth: 1920,
  displayHeight: 1080,
  rotation: 0,
  sampleAspectRatio: '1:1',
  interlaced: false,
  hasAudio: false,
  ...over,
});
