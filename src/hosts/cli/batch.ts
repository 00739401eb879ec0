import { readFile, readdir, rename, stat, writeFile } from 'node:fs/promises';
import { basename, extname, join, relative, resolve, sep } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import type { GenerateOptions, Limits } from '../../engine/options.js';
import type { GenerateRequest, Manifest, Progress } from '../../engine/types.js';
import { ThumbnailerError, asThumbnailerError } from '../../errors.js';

/**
 * `thumbnailer generate` on many inputs: files, folders (walked for video files, recursively with
 * `--recursive`) and URLs, each video's outputs under `<out>/<path relative to its folder>/`,
 * a few at a time, skipping videos whose outputs are up to date, every failure reported by name.
 */

/** Extensions a folder walk takes as videos; a file named explicitly is always tried. */
export const VIDEO_EXTENSIONS = new Set(
  'mp4 m4v mov qt mkv webm avi mpg mpeg m2v ts mts m2ts wmv asf flv f4v 3gp 3g2 ogv ogg mxf vob dv divx rm rmvb y4m'
    .split(' ')
    .map((e) => `.${e}`),
);

export interface BatchItem {
  /** What the user gave, or the file found in a folder (as a path they can recognise). */
  input: string;
  source: GenerateRequest['source'];
  /** Absolute path of a local file (for the up-to-date check). */
  file?: string;
  outDir: string;
}

export type ItemResult =
  | { item: BatchItem; status: 'made'; manifest: Manifest }
  | { item: BatchItem; status: 'up-to-date'; manifest: Manifest }
  | { item: BatchItem; status: 'failed'; error: ThumbnailerError };

const isUrl = (input: string) => /^https?:\/\//i.test(input);

/** The last segment of a URL's path, made safe as a folder name. */
function urlName(input: string): string {
  let name = '';
  try {
    name = decodeURIComponent(new URL(input).pathname.split('/').filter(Boolean).pop() ?? '');
  } catch {
    // keep the fallback
  }
  name = name.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^\.+/, '');
  return name || 'video';
}

/** Video files under `folder` (hidden files and folders skipped, symlinked folders not followed). */
async function walk(folder: string, recursive: boolean, skip: string): Promise<string[]> {
  const found: string[] = [];
  const visit = async (dir: string) => {
    const entries = await readdir(dir, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      if (entry.name.startsWith('.')) continue;
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        if (recursive && resolve(path) !== skip) await visit(path);
      } else if (entry.isFile() || entry.isSymbolicLink()) {
        if (!VIDEO_EXTENSIONS.has(extname(entry.name).toLowerCase())) continue;
        if (entry.isSymbolicLink() && !(await stat(path).catch(() => undefined))?.isFile()) continue;
        found.push(path);
      }
    }
  };
  await visit(folder);
  return found;
}

/**
 * The work list. One file or URL keeps the single-video layout (outputs directly in `out`);
 * otherwise each video gets `<out>/<path relative to its folder>/` (a file or URL given on its
 * own: `<out>/<its name>/`). A name that cannot be read is a failure of its own, reported later.
 */
export async function expandInputs(
  inputs: string[],
  out: string,
  recursive: boolean,
): Promise<{ items: BatchItem[]; failures: ItemResult[]; single: boolean }> {
  const outAbs = resolve(out);
  const kinds = await Promise.all(
    inputs.map(async (input) =>
      isUrl(input)
        ? ('url' as const)
        : (await stat(input).catch(() => undefined))?.isDirectory()
          ? 'folder'
          : 'file',
    ),
  );
  const single = inputs.length === 1 && kinds[0] !== 'folder';
  const items: BatchItem[] = [];
  const failures: ItemResult[] = [];
  const fail = (input: string, error: unknown) =>
    failures.push({
      item: { input, source: { kind: 'file', path: input }, outDir: outAbs },
      status: 'failed',
      error: asThumbnailerError(error, 'E_INPUT_NOT_FOUND'),
    });
  for (const [i, input] of inputs.entries()) {
    const kind = kinds[i]!;
    if (kind === 'url') {
      items.push({
        input,
        source: { kind: 'url', url: input },
        outDir: single ? outAbs : join(outAbs, urlName(input)),
      });
    } else if (kind === 'file') {
      const path = resolve(input);
      items.push({
        input,
        source: { kind: 'file', path },
        file: path,
        outDir: single ? outAbs : join(outAbs, basename(path)),
      });
    } else {
      try {
        const root = resolve(input);
        for (const path of await walk(root, recursive, outAbs)) {
          items.push({
            input: join(input, relative(root, path)),
            source: { kind: 'file', path },
            file: path,
            outDir: join(outAbs, relative(root, path)),
          });
        }
      } catch (error) {
        fail(
          input,
          new ThumbnailerError(
            'E_INPUT_NOT_FOUND',
            `Cannot read the folder ${input}: ${(error as Error).message}`,
          ),
        );
      }
    }
  }
  // Two videos must not share an output folder (a.mp4 in two folders given together, say).
  const owners = new Map<string, string>();
  const kept: BatchItem[] = [];
  for (const item of items) {
    const owner = owners.get(item.outDir);
    if (owner !== undefined) {
      fail(
        item.input,
        new ThumbnailerError(
          'E_OPTION_INVALID',
          `Its outputs would go to ${item.outDir}, like those of ${owner}: give the folders separately`,
        ),
      );
      continue;
    }
    owners.set(item.outDir, item.input);
    kept.push(item);
  }
  return { items: kept, failures, single };
}

/**
 * Outputs are up to date when the manifest in the output folder describes this very file (same
 * size, and modified no later than the manifest recorded) made with the same options, and every
 * file it lists is there: a stat and a small read, no probing.
 */
export async function upToDate(item: BatchItem, options: GenerateOptions): Promise<Manifest | undefined> {
  if (!item.file) return undefined;
  try {
    const [facts, text] = await Promise.all([
      stat(item.file),
      readFile(join(item.outDir, 'manifest.json'), 'utf8'),
    ]);
    const manifest = JSON.parse(text) as Manifest & { source?: SourceStamp };
    if (!manifest?.source || !Array.isArray(manifest.outputs)) return undefined;
    if (manifest.source.size !== facts.size || manifest.source.mtimeMs !== facts.mtimeMs) return undefined;
    if (!isDeepStrictEqual(plain(manifest.options), plain(options))) return undefined;
    const present = new Set(await readdir(item.outDir));
    return manifest.outputs.every((o) => present.has(o.file)) ? manifest : undefined;
  } catch {
    return undefined;
  }
}

/** What the up-to-date check compares: the source file's size and modification time. */
interface SourceStamp {
  size: number;
  mtimeMs: number;
}

const plain = (value: unknown): unknown => JSON.parse(JSON.stringify(value)) as unknown;

/**
 * Adds the source file's stamp (taken before the run) to the manifest just written, replacing it
 * atomically, so the next run can tell the outputs are current without probing the video.
 */
async function stampManifest(outDir: string, manifest: Manifest, stamp: SourceStamp): Promise<void> {
  const path = join(outDir, 'manifest.json');
  const temp = join(outDir, `.manifest.json.${process.pid}.tmp`);
  await writeFile(temp, JSON.stringify({ ...manifest, source: stamp }, null, 2) + '\n');
  await rename(temp, path);
}

export interface BatchOptions {
  options: GenerateOptions;
  /** Engine limits from the settings (THUMBNAILER_JOB_TIMEOUT_MS, THUMBNAILER_MAX_INPUT_BYTES...). */
  limits?: Partial<Limits>;
  /** Where each video's temporary folder goes (THUMBNAILER_TEMP_DIR). */
  tempDir?: string;
  concurrency: number;
  signal: AbortSignal;
  generate: (request: GenerateRequest) => Promise<Manifest>;
  /** Overall progress, 0..1, and how many videos have finished. */
  onProgress?: (fraction: number, finished: number, total: number) => void;
  /** Each video as it finishes. */
  onResult?: (result: ItemResult) => void;
}

/** Runs every item, `concurrency` at a time; a failure is recorded and the others go on. */
export async function runBatch(items: BatchItem[], batch: BatchOptions): Promise<ItemResult[]> {
  const results: ItemResult[] = new Array<ItemResult>(items.length);
  const fractions = new Array<number>(items.length).fill(0);
  let finished = 0;
  const report = () =>
    batch.onProgress?.(
      items.length === 0 ? 1 : fractions.reduce((a, b) => a + b, 0) / items.length,
      finished,
      items.length,
    );
  const runOne = async (index: number): Promise<ItemResult> => {
    const item = items[index]!;
    const current = await upToDate(item, batch.options);
    if (current) return { item, status: 'up-to-date', manifest: current };
    try {
      // A file that cannot be read is the engine's to report (E_INPUT_NOT_FOUND and the like).
      const before = item.file ? await stat(item.file).catch(() => undefined) : undefined;
      const manifest = await batch.generate({
        source: item.source,
        outDir: item.outDir,
        options: batch.options,
        limits: batch.limits,
        tempDir: batch.tempDir,
        signal: batch.signal,
        onProgress: (p: Progress) => {
          fractions[index] = p.fraction;
          report();
        },
      });
      if (before) await stampManifest(item.outDir, manifest, { size: before.size, mtimeMs: before.mtimeMs });
      return { item, status: 'made', manifest };
    } catch (error) {
      return { item, status: 'failed', error: asThumbnailerError(error) };
    }
  };
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(batch.concurrency, items.length) }, async () => {
      while (next < items.length && !batch.signal.aborted) {
        const index = next++;
        const result = await runOne(index);
        results[index] = result;
        fractions[index] = 1;
        finished++;
        report();
        batch.onResult?.(result);
      }
    }),
  );
  return results.filter(Boolean);
}

/** A path as users see it: relative to the working folder when inside it. */
export function shown(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel && !rel.startsWith(`..${sep}`) && rel !== '..' ? rel : path;
}
