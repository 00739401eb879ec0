import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { describe, test } from 'node:test';
import { ERROR_CODES, ThumbnailerError, errorBody } from '../src/errors.js';
import { REPO_ROOT } from './support/media.js';

/** Every .ts and .js file under src/, the dashboard's scripts included. */
async function sourceFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const nested = await Promise.all(
    entries.map((e) => {
      const path = join(dir, e.name);
      if (e.isDirectory()) return sourceFiles(path);
      return Promise.resolve(/\.(?:ts|js)$/.test(e.name) ? [path] : []);
    }),
  );
  return nested.flat();
}

describe('the error catalogue', () => {
  test('every error code src/ names, in code or in a comment, is declared in src/errors.ts', async () => {
    const declared = new Set<string>(ERROR_CODES);
    const unknown: string[] = [];
    let seen = 0;
    for (const file of await sourceFiles(join(REPO_ROOT, 'src'))) {
      const text = await readFile(file, 'utf8');
      // A code as a string, a template or a name in backquotes: 'E_X', "E_X", `E_X`.
      for (const match of text.matchAll(/['"`](E_[A-Z0-9_]+)['"`]/g)) {
        seen++;
        if (!declared.has(match[1]!)) {
          const line = text.slice(0, match.index).split('\n').length;
          unknown.push(`${relative(REPO_ROOT, file)}:${line} ${match[1]}`);
        }
      }
    }
    assert.ok(seen > 100, `the scan found the codes in use (${seen})`);
    assert.deepEqual(unknown, [], 'codes outside the catalogue');
  });

  test('each code maps to an HTTP error status, and a 5xx body never says more than its code', () => {
    for (const code of ERROR_CODES) {
      const error = new ThumbnailerError(code, 'detail with AccountKey=abc');
      assert.ok(error.status >= 400 && error.status <= 599, `${code}: ${error.status}`);
      const body = errorBody(error);
      assert.equal(body.error.code, code);
      if (error.status >= 500) assert.equal(body.error.message, `Internal error (${code})`);
      else assert.equal(body.error.message, 'detail with AccountKey=REDACTED');
    }
  });
});
