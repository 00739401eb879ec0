import { readFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import pLimit, { type LimitFunction } from 'p-limit';
import type { Manifest } from '../engine/types.js';
import { ThumbnailerError } from '../errors.js';
import { OUTPUT_FILE } from './names.js';
import type { JobDeps } from './types.js';

/**
 * The output layout in THUMBNAILCONTAINER and its commit: `<video>/<file>` for every output,
 * `<video>/manifest.json` last, and `<video>_keyframes.jpg` for the seed layout's strip.
 */

export const MANIFEST = 'manifest.json';
/** Uploads and deletes in flight at once per job. */
const BLOB_CONCURRENCY = 4;

type OutputDeps = Pick<JobDeps, 'blobs' | 'thumbnailContainer'>;

/** Output file name -> blob URL (no signature), as the job record keeps them. */
export function outputUrls(deps: OutputDeps, video: string, manifest: Manifest): Record<string, string> {
  const urls: Record<string, string> = {};
  for (const o of manifest.outputs)
    urls[o.file] = deps.blobs.url(deps.thumbnailContainer, `${video}/${o.file}`);
  urls[MANIFEST] = deps.blobs.url(deps.thumbnailContainer, `${video}/${MANIFEST}`);
  const strip = manifest.outputs.find((o) => o.kind === 'strip');
  if (manifest.options.layout === 'seed' && strip) {
    urls['keyframes'] = deps.blobs.url(deps.thumbnailContainer, seedStripName(video, strip.file));
  }
  return urls;
}

/** Where the seed sample put its strip: `<video>_keyframes.jpg` (`.webp` for a WebP strip). */
function seedStripName(video: string, stripFile: string): string {
  return `${video}_keyframes${extname(stripFile)}`;
}

/** The committed manifest of a video, or undefined when absent or unreadable. */
export async function readCommittedManifest(
  deps: OutputDeps,
  video: string,
  options: { signal?: AbortSignal } = {},
): Promise<Manifest | undefined> {
  return parseManifest(await deps.blobs.readText(deps.thumbnailContainer, `${video}/${MANIFEST}`, options));
}

function parseManifest(text: string | undefined): Manifest | undefined {
  if (!text) return undefined;
  try {
    const m = JSON.parse(text) as Manifest;
    return m && typeof m === 'object' && m.input && Array.isArray(m.outputs) ? m : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Commits a finished local output folder to `THUMBNAILCONTAINER/<video>/`: a stale manifest is
 * withdrawn first (so a reader never sees a manifest describing a mix), every output is uploaded
 * (deterministic content: a redelivery rewrites identical bytes), outputs of the previous run that
 * the new one lacks are deleted, and `manifest.json` goes last, so its presence means complete.
 */
/**
 * Like Promise.all, but on the first failure the queued tasks are dropped and the ones in flight
 * are waited for before it rejects: the caller removes the staged files next, and an upload still
 * opening one of them would fail outside any promise (an unhandled stream error ends the process).
 */
async function settleAll(limit: LimitFunction, tasks: Promise<unknown>[]): Promise<void> {
  try {
    await Promise.all(tasks);
  } catch (error) {
    limit.clearQueue();
    await Promise.allSettled(tasks);
    throw error;
  }
}

export async function commitOutputs(
  deps: OutputDeps,
  video: string,
  outDir: string,
  manifest: Manifest,
  previous: Manifest | undefined,
  signal: AbortSignal,
): Promise<void> {
  const container = deps.thumbnailContainer;
  const limit = pLimit(BLOB_CONCURRENCY);
  if (previous) await deps.blobs.delete(container, `${video}/${MANIFEST}`, { signal });
  for (const o of manifest.outputs) {
    if (!OUTPUT_FILE.test(o.file))
      throw new ThumbnailerError('E_INTERNAL', `The engine named an unsafe output ${o.file}`);
  }
  await settleAll(
    limit,
    manifest.outputs.map((o) =>
      limit(() =>
        deps.blobs.uploadFile(container, `${video}/${o.file}`, join(outDir, o.file), {
          signal,
          contentType: o.contentType,
        }),
      ),
    ),
  );
  const strip = manifest.outputs.find((o) => o.kind === 'strip');
  if (manifest.options.layout === 'seed' && strip) {
    // Where the seed sample put its strip.
    await deps.blobs.uploadFile(container, seedStripName(video, strip.file), join(outDir, strip.file), {
      signal,
      contentType: strip.contentType,
    });
  }
  if (previous) {
    const keep = new Set(manifest.outputs.map((o) => o.file));
    const stale = previous.outputs.map((o) => o.file).filter((f) => OUTPUT_FILE.test(f) && !keep.has(f));
    await settleAll(
      limit,
      stale.map((f) => limit(() => deps.blobs.delete(container, `${video}/${f}`, { signal }))),
    );
  }
  let text: string;
  try {
    text = await readFile(join(outDir, MANIFEST), 'utf8');
  } catch {
    text = JSON.stringify(manifest, null, 2) + '\n';
  }
  await deps.blobs.uploadText(container, `${video}/${MANIFEST}`, text, {
    signal,
    contentType: 'application/json',
  });
}
