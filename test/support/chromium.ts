/**
 * The Chromium the browser tests and the README screenshot drive with playwright-core:
 *   1. THUMBNAILER_CHROMIUM, a path to a Chromium binary;
 *   2. the system's (Debian's /usr/bin/chromium, as CI installs it), unless THUMBNAILER_NPM_CHROMIUM=1;
 *   3. the headless build shipped inside the npm package @sparticuz/chromium (Linux only), so that
 *      a machine with nothing but Node runs the dashboard tests too.
 * The flags keep it headless, unsandboxed for root, and off the network it cannot reach here.
 */
import { execFile } from 'node:child_process';
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { brotliDecompress } from 'node:zlib';

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface Chromium {
  executablePath: string;
  /** Environment for the browser process (playwright's `env`): the npm build may need its libraries. */
  env: NodeJS.ProcessEnv;
  source: 'env' | 'system' | 'npm';
}

const SYSTEM_NAMES = ['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable'];

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function systemChromium(): string | undefined {
  const dirs = (process.env.PATH ?? '').split(delimiter).filter(Boolean);
  for (const name of SYSTEM_NAMES) {
    for (const dir of dirs) if (isExecutable(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

/** Directories where a distribution keeps libnss3, which the npm build links against. */
const LIB_DIRS = ['/lib/x86_64-linux-gnu', '/usr/lib/x86_64-linux-gnu', '/lib64', '/usr/lib64', '/usr/lib'];
const LIB_DIRS_ARM = [
  '/lib/aarch64-linux-gnu',
  '/usr/lib/aarch64-linux-gnu',
  '/lib64',
  '/usr/lib64',
  '/usr/lib',
];

/**
 * The package carries NSS for Amazon Linux (al2023.tar.br) but unpacks it only on AWS. A machine
 * without libnss3 (a bare Node image) gets it unpacked here and put on the browser's library path.
 */
async function bundledLibraries(binDir: string): Promise<string | undefined> {
  const dirs = process.arch === 'arm64' ? LIB_DIRS_ARM : LIB_DIRS;
  const forced = process.env.THUMBNAILER_NPM_CHROMIUM_LIBS === '1';
  const present = (lib: string) => dirs.some((d) => existsSync(join(d, lib)));
  if (!forced && present('libnss3.so') && present('libexpat.so.1')) return undefined;
  const target = join(tmpdir(), 'thumbnailer-chromium-libs');
  const libDir = join(target, 'lib');
  if (existsSync(join(libDir, 'libnss3.so'))) return libDir;
  const tar = await promisify(brotliDecompress)(await readFile(join(binDir, 'al2023.tar.br')));
  await mkdir(target, { recursive: true });
  await new Promise<void>((resolve, reject) => {
    const child = execFile('tar', ['-x', '-C', target], (error) => (error ? reject(error) : resolve()));
    child.stdin!.end(tar);
  });
  return libDir;
}

async function npmChromium(): Promise<Chromium> {
  if (process.platform !== 'linux') {
    throw new Error(`@sparticuz/chromium ships a Linux build only (this is ${process.platform})`);
  }
  const { default: chromium } = await import('@sparticuz/chromium');
  // Unpacks the brotli-compressed binary into the temporary folder once, then reuses it.
  const executablePath = await chromium.executablePath();
  const binDir = join(
    dirname(createRequire(import.meta.url).resolve('@sparticuz/chromium')),
    '..',
    '..',
    'bin',
  );
  const libs = await bundledLibraries(binDir);
  const env: NodeJS.ProcessEnv = { ...process.env };
  if (libs) env.LD_LIBRARY_PATH = [libs, process.env.LD_LIBRARY_PATH].filter(Boolean).join(delimiter);
  return { executablePath, env, source: 'npm' };
}

let found: Promise<Chromium> | undefined;

/** The browser to drive; rejects with the reason when there is none (the caller skips or fails). */
export function findChromium(): Promise<Chromium> {
  found ??= (async (): Promise<Chromium> => {
    const fromEnv = process.env.THUMBNAILER_CHROMIUM;
    if (fromEnv) {
      if (!isExecutable(fromEnv))
        throw new Error(`THUMBNAILER_CHROMIUM=${fromEnv} is not an executable file`);
      return { executablePath: fromEnv, env: process.env, source: 'env' };
    }
    if (process.env.THUMBNAILER_NPM_CHROMIUM !== '1') {
      const system = systemChromium();
      if (system) return { executablePath: system, env: process.env, source: 'system' };
    }
    return npmChromium();
  })();
  return found;
}
