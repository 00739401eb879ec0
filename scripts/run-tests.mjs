#!/usr/bin/env node
// Runs every test/**/*.test.ts with Node's own test runner (TypeScript through tsx), then lists
// each skipped test by name and reason. With THUMBNAILER_TEST_NO_SKIP=1 (set by CI, where ffmpeg
// and Chromium are installed) a skip fails the run: nothing may pass there by not running, except
// for a reason listed in THUMBNAILER_TEST_ALLOWED_SKIPS.
// Usage: npm test [-- <substring filter on file paths>]
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

function findTests(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return findTests(path);
    return name.endsWith('.test.ts') ? [path] : [];
  });
}

const filters = process.argv.slice(2);
const files = findTests('test')
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)))
  .sort();
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
const scratch = mkdtempSync(join(tmpdir(), 'thumbnailer-test-run-'));
const skipsFile = join(scratch, 'skips.jsonl');
const result = spawnSync(
  process.execPath,
  [
    ...['--import', 'tsx', '--test', '--test-timeout=600000'],
    ...['--test-reporter=spec', '--test-reporter-destination=stdout'],
    ...['--test-reporter=./scripts/skip-reporter.mjs', `--test-reporter-destination=${skipsFile}`],
    ...files,
  ],
  { stdio: 'inherit' },
);
let skips = [];
try {
  skips = readFileSync(skipsFile, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line));
} catch {
  // No file: the runner died before reporting; its own status says so.
}
rmSync(scratch, { recursive: true, force: true });

// Reasons CI cannot remove (a tool no Debian package provides), exact strings separated by ';'.
const allowed = new Set((process.env.THUMBNAILER_TEST_ALLOWED_SKIPS ?? '').split(';').filter(Boolean));
const noSkip = process.env.THUMBNAILER_TEST_NO_SKIP === '1';
const forbidden = noSkip ? skips.filter((s) => !allowed.has(s.reason)) : [];
if (skips.length > 0) {
  console.log(`\nskipped ${skips.length} test(s):`);
  for (const s of skips) console.log(`  - ${s.name} (${s.file ?? '?'}): ${s.reason}`);
}
if (forbidden.length > 0) {
  console.error(`THUMBNAILER_TEST_NO_SKIP=1: ${forbidden.length} skipped test(s) fail this run.`);
}
const status = result.status ?? 1;
process.exit(status !== 0 ? status : forbidden.length > 0 ? 1 : 0);
