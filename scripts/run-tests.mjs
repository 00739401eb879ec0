#!/usr/bin/env node
// Runs every test/**/*.test.ts with Node's own test runner (TypeScript through tsx), then lists
// each skipped test by name and reason. With THUMBNAILER_TEST_NO_SKIP=1 (set by CI, where ffmpeg
// and Chromium are installed) a skip fails the run: nothing may pass there by not running, except
// for a reason listed in THUMBNAILER_TEST_ALLOWED_SKIPS.
// One Azurite serves the whole run (in memory, loopback, telemetry off): its connection string goes
// to the test files in THUMBNAILER_TEST_AZURITE, and each file works in names of its own
// (test/support/azurite.ts).
// Usage: npm test [-- <substring filter on file paths>]
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { tsImport } from 'tsx/esm/api';

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

// The emulator only when a chosen file uses one: `npm test -- plan` starts none.
const azuriteSupport = await tsImport('../test/support/azurite.ts', import.meta.url);
const needsAzurite = files.some((f) => readFileSync(f, 'utf8').includes('startAzurite('));
const azurite = needsAzurite ? await azuriteSupport.startEmulatorForTests() : undefined;
const env = { ...process.env };
if (azurite) env[azuriteSupport.SHARED_AZURITE] = azurite.connectionString;
const runner = spawn(
  process.execPath,
  [
    ...['--import', 'tsx', '--test', '--test-timeout=600000'],
    ...['--test-reporter=spec', '--test-reporter-destination=stdout'],
    ...['--test-reporter=./scripts/skip-reporter.mjs', `--test-reporter-destination=${skipsFile}`],
    ...files,
  ],
  { stdio: 'inherit', env },
);
// Ctrl-C reaches the runner through the terminal; the emulator goes when the runner has gone.
process.on('SIGINT', () => undefined);
const [exitCode, signal] = await once(runner, 'exit');
await azurite?.stop();
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
const status = signal ? 1 : (exitCode ?? 1);
process.exit(status !== 0 ? status : forbidden.length > 0 ? 1 : 0);
