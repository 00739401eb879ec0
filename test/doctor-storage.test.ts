import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { loadSettings } from '../src/config.js';
import { createStorage } from '../src/adapters/storage.js';
import { startAzurite, type TestAzurite } from './support/azurite.js';

const run = promisify(execFile);
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
let azurite: TestAzurite;

async function doctor(connectionString: string) {
  try {
    const { stdout } = await run(
      process.execPath,
      ['--import', 'tsx', join(root, 'src/hosts/cli/main.ts'), 'doctor'],
      {
        cwd: root,
        env: { ...process.env, AzureWebJobsStorage: connectionString },
      },
    );
    return { code: 0, stdout };
  } catch (error) {
    const e = error as { code: number; stdout: string };
    return { code: e.code, stdout: e.stdout };
  }
}

before(async () => {
  // An emulator of its own: the account must start without the job table, whose name is fixed.
  azurite = await startAzurite({ own: true });
});
after(() => azurite.stop());

describe('thumbnailer doctor, storage', () => {
  test('names each missing container, queue and table with the fix, then passes once they exist', async () => {
    const missing = await doctor(azurite.connectionString);
    assert.equal(missing.code, 1);
    assert.match(missing.stdout, /ok {3}storage account devstoreaccount1 reachable/);
    for (const name of [
      'container videos',
      'container thumbnails',
      'queue thumbnail-requests',
      'queue thumbnail-requests-poison',
      'table thumbnailjobs',
    ]) {
      assert.match(missing.stdout, new RegExp(`FAIL ${name} does not exist: it is created on first start`));
    }
    const storage = await createStorage(loadSettings({ connectionString: azurite.connectionString }));
    await storage.ensure();
    const present = await doctor(azurite.connectionString);
    assert.equal(present.code, 0, present.stdout);
    assert.doesNotMatch(present.stdout, /FAIL/);
    assert.doesNotMatch(present.stdout, /AccountKey|Eby8vdM02/, 'no key in the report');
  });
});
