import { join } from 'node:path';
import { describeClip, ensureClip } from '../lib/clips.js';
import { oursGenerate, recordingManifest, type ManifestFacts } from '../lib/commands.js';
import type { Media } from '../lib/media.js';
import { ratio } from '../lib/stats.js';
import { runOnce, type Timed } from '../lib/timing.js';
import type { Section, TargetRow } from '../lib/types.js';

/**
 * Footage that weighs what real footage weighs: the clean 5-min test card beside a 1080p clip with
 * film grain at about 8 Mbps (its keyframes are as heavy as a camera's). Time and bytes read of the
 * strip and of the default outputs on each, side by side; and the default outputs at most 1.3x the
 * strip alone (docs/contract.md section 9), which one decode for every output makes possible.
 */
export const footageSection: Section = {
  name: 'footage',
  title: 'clean and grainy 1080p: strip and default outputs, time and bytes read',
  needsOurs: true,
  async run(ctx) {
    const grain = await ensureClip(join(ctx.root, 'bench', '.media'), 'grain-1080p', ctx.log);
    ctx.log(`  ${describeClip(grain)}`);
    const targets: TargetRow[] = [];
    const rows: Timed[] = [];
    const byVideo: {
      video: Media;
      strip: Timed;
      full: Timed;
      stripFacts: ManifestFacts;
      fullFacts: ManifestFacts;
    }[] = [];
    for (const video of [ctx.media.short, grain]) {
      const stripFacts: ManifestFacts = {};
      const fullFacts: ManifestFacts = {};
      const strip = recordingManifest(
        oursGenerate(ctx, `footage-strip-${video.name}`, `ours: strip, ${video.name}`, video, ['strip']),
        stripFacts,
      );
      const full = recordingManifest(
        oursGenerate(
          ctx,
          `footage-full-${video.name}`,
          `ours: strip + poster + storyboard, ${video.name}`,
          video,
        ),
        fullFacts,
      );
      byVideo.push({ video, strip, full, stripFacts, fullFacts });
      rows.push(strip, full);
    }
    for (const item of rows) await runOnce(ctx, item, 'warm', false);
    for (let round = 1; round <= ctx.rounds; round++) {
      ctx.log(`footage: round ${round}/${ctx.rounds}`);
      for (const item of rows) await runOnce(ctx, item, String(round));
    }
    const share = (facts: ManifestFacts) =>
      facts.bytesRead !== undefined && facts.inputBytes
        ? `${((100 * facts.bytesRead) / facts.inputBytes).toFixed(1)}% of the file read (${(facts.bytesRead / 1024 ** 2).toFixed(1)} MB)`
        : 'bytes read unknown';
    const route = (facts: ManifestFacts) =>
      facts.decode ? `, route ${facts.decode.route}, ${facts.decode.decodedFrames} frames decoded` : '';
    for (const { video, strip, full, stripFacts, fullFacts } of byVideo) {
      targets.push({
        label: `ours default outputs / ours strip alone, ${video.name}`,
        value: ratio(full.row.seconds, strip.row.seconds),
        unit: 'x',
        // The target is set on the clean 5-min video; the grainy clip is shown beside it.
        ...(video === ctx.media.short ? { comparator: '<=' as const, target: 1.3 } : {}),
        from: [strip.row.id, full.row.id],
        detail: `strip: ${share(stripFacts)}${route(stripFacts)}; default outputs: ${share(fullFacts)}${route(fullFacts)}`,
      });
    }
    const [clean, grainy] = byVideo;
    targets.push({
      label: 'ours strip, grain-1080p / clean 5-min',
      value: ratio(grainy!.strip.row.seconds, clean!.strip.row.seconds),
      unit: 'x',
      from: [clean!.strip.row.id, grainy!.strip.row.id],
      detail: 'information: the grainy clip is shorter (60 s) but its keyframes weigh about 10x more',
    });
    return { timings: rows.map((r) => r.row), targets, notes: [] };
  },
};
