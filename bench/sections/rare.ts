import { join } from 'node:path';
import { CLIPS, describeClip, ensureClip, type ClipName } from '../lib/clips.js';
import { oursGenerate, plainDecode, recordingManifest, type ManifestFacts } from '../lib/commands.js';
import { warmPageCache } from '../lib/media.js';
import { ratio } from '../lib/stats.js';
import { runOnce } from '../lib/timing.js';
import type { Section, TargetRow, TimingRow } from '../lib/types.js';

const CASES: ClipName[] = ['onekey-720p', 'recorder-webm', 'gop10-1080p'];

/**
 * docs/contract.md section 9, rare keyframes: default outputs (strip + poster + storyboard) at most 1.3x
 * one plain decode of the same file (`ffmpeg -i X -an -f null -`), on the three kinds of upload
 * that carry few keyframes: one keyframe in 120 s of 720p H.264, a MediaRecorder-like WebM, and
 * 1080p with a keyframe every 10 s. Plain decode and ours alternate within each round.
 */
export const rareSection: Section = {
  name: 'rare',
  title: 'rare keyframes: default outputs against one plain decode',
  needsOurs: true,
  cleanMedia: false,
  async run(ctx) {
    const timings: TimingRow[] = [];
    const targets: TargetRow[] = [];
    const notes: string[] = [];
    for (const name of CASES) {
      const video = await ensureClip(join(ctx.root, 'bench', '.media'), name, ctx.log);
      ctx.log(`  ${describeClip(video)}`);
      await warmPageCache(video.path);
      const facts: ManifestFacts = {};
      const plain = plainDecode(`plain-${name}`, `plain decode, ${name}`, video);
      const ours = recordingManifest(
        oursGenerate(ctx, `ours-full-${name}`, `ours: strip + poster + storyboard, ${name}`, video),
        facts,
      );
      await runOnce(ctx, ours, 'warm', false);
      for (let round = 1; round <= ctx.rounds; round++) {
        ctx.log(`rare: ${name}, round ${round}/${ctx.rounds}`);
        for (const item of [plain, ours]) await runOnce(ctx, item, String(round));
      }
      timings.push(plain.row, ours.row);
      const decode = facts.decode
        ? `route ${facts.decode.route}, ${facts.decode.decodedFrames} frames decoded for ${facts.decode.frames} shown`
        : 'no manifest';
      targets.push({
        label: `ours default outputs / plain decode, ${name}`,
        value: ratio(ours.row.seconds, plain.row.seconds),
        unit: 'x',
        comparator: '<=',
        target: 1.3,
        from: [plain.row.id, ours.row.id],
        detail: `${CLIPS[name].description}; ${decode}`,
      });
    }
    return { timings, targets, notes };
  },
};
