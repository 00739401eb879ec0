/**
 * `npm run bench`: times whole commands side by side (ours, ffmpeg-generate-video-preview, ffmpeg's
 * keyframe-scan recipe), checks every output it timed, and prints median ratios against the
 * targets of docs/contract.md section 9. Writes the same tables to bench/results.md.
 *
 * Sections live in bench/sections/ (listed in bench/sections/index.ts); `--only` picks some.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { References } from './lib/checks.js';
import { describeMedia, ensureMedia, warmPageCache } from './lib/media.js';
import { run } from './lib/proc.js';
import { targetTable, targetVerdict, timingTable, timingVerdict } from './lib/report.js';
import type { BenchContext, TargetRow, TimingRow } from './lib/types.js';
import { SECTIONS } from './sections/index.js';

const HELP = `Usage: npm run bench -- [options]

Times whole commands side by side and checks every output they make.

Options:
  --rounds N       timed rounds of each command (default 3)
  --quick          run ffmpeg-generate-video-preview once only (it decodes every frame: slow)
  --only LIST      sections to run, comma-separated: ${SECTIONS.map((s) => s.name).join(', ')}
  --without-ours   time only the baselines (to try the harness before the CLI is built)
  --keep           keep every output folder (failed runs' folders are always kept)
  -h, --help       this text

Media is generated once into bench/.media/ (about 2 minutes on 2 cores).
Our CLI must be built first: npm run build (dist/hosts/cli/main.js).
Exit code: 0 all outputs valid and all targets met, 1 a run failed or an output is INVALID,
2 all valid but a target is missed.`;

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const log = (line: string) => console.log(line);

function fail(message: string): never {
  console.error(`bench: ${message}`);
  process.exit(1);
}

function options() {
  try {
    const { values } = parseArgs({
      options: {
        rounds: { type: 'string', default: '3' },
        quick: { type: 'boolean', default: false },
        only: { type: 'string' },
        'without-ours': { type: 'boolean', default: false },
        keep: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      allowPositionals: false,
    });
    if (values.help) {
      console.log(HELP);
      process.exit(0);
    }
    const rounds = Number(values.rounds);
    if (!Number.isInteger(rounds) || rounds < 1 || rounds > 50)
      fail('--rounds must be a whole number from 1 to 50');
    const names = values.only?.split(',').map((s) => s.trim()) ?? SECTIONS.map((s) => s.name);
    const unknown = names.filter((n) => !SECTIONS.some((s) => s.name === n));
    if (unknown.length > 0)
      fail(`unknown section ${unknown.join(', ')}; known: ${SECTIONS.map((s) => s.name).join(', ')}`);
    return {
      rounds,
      quick: values.quick,
      sections: SECTIONS.filter((s) => names.includes(s.name)),
      withoutOurs: values['without-ours'],
      keep: values.keep,
    };
  } catch (error) {
    return fail(`${(error as Error).message}\n\n${HELP}`);
  }
}

async function toolVersion(tool: string): Promise<string> {
  const result = await run(tool, ['-version']);
  if (result.code !== 0) {
    fail(`${tool} is not on PATH; install it (Debian: apt-get install ffmpeg) and run the bench again.`);
  }
  return /version (\S+)/.exec(result.stdout.toString())?.[1] ?? 'unknown';
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/** Our CLI, built; a clear stop when it is not. */
function findOurs(withoutOurs: boolean): string | undefined {
  if (withoutOurs) return undefined;
  const cli = join(root, 'dist', 'hosts', 'cli', 'main.js');
  if (!existsSync(cli)) {
    fail(
      `our CLI is not built: ${relative(root, cli)} is missing.\n` +
        'Build it with `npm run build`, then run the bench again (or add --without-ours to time only the baselines).',
    );
  }
  if (existsSync(join(root, 'src')) && newestMtime(join(root, 'src')) > statSync(cli).mtimeMs) {
    log(
      'bench: warning: src/ has changed since the last build; run `npm run build` to time the current code.',
    );
  }
  return cli;
}

function machine(): string {
  const cpus = os.cpus();
  const memory = (os.totalmem() / 1024 ** 3).toFixed(0);
  return `${cpus[0]?.model.trim() ?? 'unknown CPU'}, ${cpus.length} cores, ${memory} GB RAM`;
}

/** Formats like `npm run lint` expects (aligned tables), so that the generated file stays lint-clean. */
async function formatMarkdown(text: string, file: string): Promise<string> {
  try {
    const prettier = await import('prettier');
    const config = (await prettier.resolveConfig(file)) ?? {};
    return await prettier.format(text, { ...config, filepath: file });
  } catch {
    return `${text}\n`;
  }
}

const load = () => os.loadavg()[0]!.toFixed(2);

async function main(): Promise<number> {
  const opts = options();
  const ffmpegVersion = await toolVersion('ffmpeg');
  await toolVersion('ffprobe');
  const ours = findOurs(opts.withoutOurs);
  const startedAt = new Date();
  const loadBefore = load();

  const media = await ensureMedia(join(root, 'bench', '.media'), log);
  log(
    media.cached
      ? `media: cached in bench/.media/ (generated in ${media.generatedSeconds.toFixed(1)} s on ${media.generatedAt})`
      : `media: generated in ${media.generatedSeconds.toFixed(1)} s`,
  );
  for (const m of [media.short, media.long]) log(`  ${describeMedia(m)}`);
  for (const m of [media.short, media.long]) await warmPageCache(m.path);

  const controller = new AbortController();
  process.once('SIGINT', () => {
    log('bench: interrupted, stopping the running command...');
    controller.abort();
    process.once('SIGINT', () => process.exit(130));
  });
  const tmp = await mkdtemp(join(os.tmpdir(), 'video-thumbnailer-bench-'));
  const ctx: BenchContext = {
    root,
    media,
    rounds: opts.rounds,
    quick: opts.quick,
    ours,
    tmp,
    keep: opts.keep,
    refs: new References(),
    signal: controller.signal,
    log,
  };
  if (os.loadavg()[0]! > os.cpus().length) {
    log(`bench: warning: load average ${load()} on ${os.cpus().length} cores; absolute times will be noisy.`);
  }

  const timings: TimingRow[] = [];
  const targets: TargetRow[] = [];
  const notes: string[] = [];
  let crashed = false;
  for (const section of opts.sections) {
    if (section.needsOurs && !ours) {
      notes.push(`${section.name}: skipped (--without-ours).`);
      continue;
    }
    log(`\n== ${section.name}: ${section.title}`);
    try {
      const result = await section.run(ctx);
      timings.push(...result.timings);
      targets.push(...result.targets);
      notes.push(...result.notes.map((n) => `${section.name}: ${n}`));
    } catch (error) {
      crashed = true;
      notes.push(`${section.name}: stopped: ${(error as Error).message}`);
      log(`bench: section ${section.name} stopped: ${(error as Error).stack ?? error}`);
      if (controller.signal.aborted) break;
    }
  }

  const invalid = timings.filter((t) => timingVerdict(t) === 'INVALID');
  const verdicts = targets.map((t) => targetVerdict(t, timings));
  const args = process.argv.slice(2).join(' ');
  const resultsFile = join(root, 'bench', 'results.md');
  const raw = [
    `Run ${startedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC on ${machine()}; load average ${loadBefore} at start, ${load()} at end.`,
    `Node ${process.version}, ffmpeg ${ffmpegVersion}. \`npm run bench${args ? ` -- ${args}` : ''}\`, ${opts.rounds} round(s); ` +
      'times are whole commands (process start to exit), ratios are of medians.',
    `Media (generated by the bench in ${media.generatedSeconds.toFixed(0)} s): ${describeMedia(media.short)}; ` +
      `${describeMedia(media.long)} (the 5-min file stream-copied 12 times).`,
    '',
    timingTable(timings),
    '',
    targetTable(targets, timings),
    ...(notes.length > 0 ? ['', ...notes.map((n) => `- ${n}`)] : []),
  ].join('\n');
  const text = await formatMarkdown(raw, resultsFile);

  log(`\n${text}`);
  for (const row of invalid) {
    log(`INVALID ${row.label}:`);
    for (const p of row.problems.slice(0, 10)) log(`  - ${p}`);
  }
  for (const row of targets.filter((t) => (t.problems?.length ?? 0) > 0)) {
    log(`INVALID ${row.label}:`);
    for (const p of row.problems!.slice(0, 10)) log(`  - ${p}`);
  }
  await writeFile(resultsFile, text);
  log('bench: tables written to bench/results.md');

  const kept = invalid.length > 0 || verdicts.includes('INVALID') || crashed || opts.keep;
  if (kept) log(`bench: outputs kept in ${tmp}`);
  else await rm(tmp, { recursive: true, force: true });

  if (crashed || invalid.length > 0 || verdicts.includes('INVALID')) return 1;
  return verdicts.includes('FAIL') ? 2 : 0;
}

main().then(
  (code) => process.exit(code),
  (error: Error) => fail(error.stack ?? error.message),
);
