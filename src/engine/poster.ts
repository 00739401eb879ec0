/**
 * Picks the poster among candidate frames from their grey pixels: never a black, blank or faded
 * frame when a better one exists. Pure: tested on synthetic pixels.
 */
export interface FrameScore {
  mean: number;
  stdev: number;
  entropy: number;
  score: number;
}

export function scoreFrame(pixels: Uint8Array): FrameScore {
  const histogram = new Array<number>(32).fill(0);
  let sum = 0;
  let sumSquares = 0;
  for (const value of pixels) {
    histogram[value >> 3]!++;
    sum += value;
    sumSquares += value * value;
  }
  const n = Math.max(1, pixels.length);
  const mean = sum / n;
  const stdev = Math.sqrt(Math.max(0, sumSquares / n - mean * mean));
  let entropy = 0;
  for (const count of histogram) {
    if (count === 0) continue;
    const p = count / n;
    entropy -= p * Math.log2(p);
  }
  // Detail (entropy, contrast) makes a good poster; very dark or very bright frames are penalised
  // hard, so that an intro, a fade or a flash only wins when nothing else exists.
  const exposure = mean < 40 ? mean / 40 : mean > 215 ? (255 - mean) / 40 : 1;
  const score = (entropy / 5 + Math.min(stdev, 80) / 80) * exposure * exposure;
  return { mean, stdev, entropy, score };
}

/** Index of the best frame; ties go to the earlier one. */
export function choosePoster(frames: Uint8Array[]): { index: number; scores: FrameScore[] } {
  const scores = frames.map(scoreFrame);
  let index = 0;
  scores.forEach((s, i) => {
    if (s.score > scores[index]!.score + 1e-9) index = i;
  });
  return { index, scores };
}
