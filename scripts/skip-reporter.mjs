// A node:test reporter that writes one JSON line per skipped test (name, file, reason), for
// scripts/run-tests.mjs to list them and, in CI, to fail on them.
import { relative } from 'node:path';

export default async function* skipReporter(source) {
  for await (const event of source) {
    if (event.type !== 'test:pass' && event.type !== 'test:fail') continue;
    const { skip, name, file } = event.data;
    if (skip === undefined || skip === false) continue;
    const reason = typeof skip === 'string' ? skip : 'no reason given';
    yield JSON.stringify({ name, file: file ? relative(process.cwd(), file) : undefined, reason }) + '\n';
  }
}
