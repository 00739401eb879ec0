// Writes deploy/kubernetes/ and deploy/azure/ from the generators behind `thumbnailer deploy
// kubernetes` and `thumbnailer deploy azure`.
// Usage: node --import tsx scripts/generate-manifests.ts [--check]
// --check writes nothing and exits 1 when a committed file differs (test/deploy.test.ts and
// test/deploy-azure.test.ts do the same).
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { committedAzureFiles } from '../src/deploy/azure-committed.js';
import { committedFiles } from '../src/deploy/variants.js';

const deployRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'deploy');
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

let differences = 0;
for (const [dir, files] of [
  ['kubernetes', committedFiles()],
  ['azure', committedAzureFiles()],
] as const) {
  const root = join(deployRoot, dir);
  const stale = (await existing(root)).map((f) => relative(root, f)).filter((f) => !files.has(f));
  for (const [path, content] of files) {
    const target = join(root, path);
    const current = await readFile(target, 'utf8').catch(() => undefined);
    if (current === content) continue;
    differences++;
    if (check) {
      console.error(`deploy/${dir}/${path} is ${current === undefined ? 'missing' : 'out of date'}`);
    } else {
      await mkdir(dirname(target), { recursive: true });
      await writeFile(target, content);
      console.log(`wrote deploy/${dir}/${path}`);
    }
  }
  for (const path of stale) {
    differences++;
    if (check) console.error(`deploy/${dir}/${path} is not generated`);
    else {
      await rm(join(root, path));
      console.log(`removed deploy/${dir}/${path}`);
    }
  }
}
if (check && differences > 0) {
  console.error('run: node --import tsx scripts/generate-manifests.ts');
  process.exit(1);
}
if (differences === 0) console.log('deploy/kubernetes/ and deploy/azure/ are up to date');
