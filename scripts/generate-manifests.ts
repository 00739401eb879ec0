// Writes deploy/kubernetes/ from the generator behind `thumbnailer deploy kubernetes`.
// Usage: node --import tsx scripts/generate-manifests.ts [--check]
// --check writes nothing and exits 1 when a committed file differs (test/deploy.test.ts does the same).
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { committedFiles } from '../src/deploy/variants.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'deploy', 'kubernetes');
const check = process.argv.includes('--check');

async function existing(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  const nested = await Promise.all(
    entries.map((e) =>
      e.isDirectory() ? existing(join(dir, e.name)) : Promise.resolve([join(dir, e.name)]),
    ),
  );
  return nested.flat();
}

const files = committedFiles();
const stale = (await existing(root)).map((f) => relative(root, f)).filter((f) => !files.has(f));
let differences = 0;

for (const [path, content] of files) {
  const target = join(root, path);
  const current = await readFile(target, 'utf8').catch(() => undefined);
  if (current === content) continue;
  differences++;
  if (check) {
    console.error(`deploy/kubernetes/${path} is ${current === undefined ? 'missing' : 'out of date'}`);
  } else {
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, content);
    console.log(`wrote deploy/kubernetes/${path}`);
  }
}
for (const path of stale) {
  differences++;
  if (check) console.error(`deploy/kubernetes/${path} is not generated`);
  else {
    await rm(join(root, path));
    console.log(`removed deploy/kubernetes/${path}`);
  }
}
if (check && differences > 0) {
  console.error('run: node --import tsx scripts/generate-manifests.ts');
  process.exit(1);
}
if (differences === 0) console.log('deploy/kubernetes/ is up to date');
