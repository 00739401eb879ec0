import { stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TRACK_DEFAULTS } from './options.js';
import type { OutputPlan, OutputPlanContext } from './output-plan.js';
import { storyboardJson, storyboardVtt, type StoryboardPlan } from './plan.js';
import { sheetBandwidth, storyboardHls, storyboardMpd } from './tracks.js';
import type { OutputFile } from './types.js';

/**
 * The track files of one storyboard width, the `storyboardTracks` asked for: the WebVTT and the
 * JSON need nothing from the run and are written now; the HLS image playlist and the DASH MPD
 * carry the sheets' bandwidth, so they are written once the sheets exist. No frame of their own.
 */
export async function planStoryboardTracks(
  ctx: OutputPlanContext,
  plan: StoryboardPlan,
  sheetType: string,
): Promise<OutputPlan> {
  const { options, staging } = ctx;
  const tracks = options.storyboardTracks ?? TRACK_DEFAULTS.storyboardTracks;
  const { base } = plan;
  if (tracks.includes('vtt')) await writeFile(join(staging, `${base}.vtt`), storyboardVtt(plan));
  await writeFile(join(staging, `${base}.json`), JSON.stringify(storyboardJson(plan), null, 2) + '\n');

  const track = (kind: OutputFile['kind'], extension: string, contentType: string): OutputFile => ({
    kind,
    file: `${base}.${extension}`,
    bytes: 0,
    contentType,
    storyboardWidth: plan.tile.width,
  });
  return {
    branches: [],
    finish: async () => {
      const files: OutputFile[] = [];
      if (tracks.includes('vtt')) files.push(track('storyboard-vtt', 'vtt', 'text/vtt'));
      files.push(track('storyboard-json', 'json', 'application/json'));
      if (!tracks.includes('hls') && !tracks.includes('dash')) return files;
      const bytes = await Promise.all(plan.sheetFiles.map(async (f) => (await stat(join(staging, f))).size));
      const bandwidth = sheetBandwidth(plan, bytes);
      if (tracks.includes('hls')) {
        await writeFile(join(staging, `${base}.m3u8`), storyboardHls(plan));
        files.push({ ...track('storyboard-hls', 'm3u8', 'application/vnd.apple.mpegurl'), bandwidth });
      }
      if (tracks.includes('dash')) {
        await writeFile(
          join(staging, `${base}.mpd`),
          storyboardMpd(plan, { mimeType: sheetType, bandwidth }),
        );
        files.push({ ...track('storyboard-dash', 'mpd', 'application/dash+xml'), bandwidth });
      }
      return files;
    },
  };
}
