#!/usr/bin/env bash
# The container image's build steps, in one place: the Dockerfile's build stage runs them (and CI
# builds that image with scripts/image-local.sh, so a step that breaks here fails CI). Run from the
# application folder.
#   scripts/image-build.sh deps     npm ci: the locked dependencies, dev ones included (the compiler);
#                                   no install scripts (nothing in production needs one)
#   scripts/image-build.sh app      compile to dist/, then drop dev and optional packages: the image
#                                   uses the OS ffmpeg, never the npm fallback
#   scripts/image-build.sh check    the pruned tree is what the image needs: every compiled module
#                                   loads with production packages only, the CLI starts, and no
#                                   dev or optional package is left
set -euo pipefail

step="${1:-}"
case "$step" in
  deps)
    npm ci --ignore-scripts --no-audit --no-fund --prefer-offline
    ;;
  app)
    npm run build
    npm prune --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund
    ;;
  check)
    main="$(node -p "require('./package.json').main")"
    [[ -f "$main" ]] || { echo "image-build: package.json main ($main) was not built" >&2; exit 1; }
    for banned in typescript tsx eslint azurite @ffmpeg-installer/ffmpeg @ffprobe-installer/ffprobe; do
      if [[ -e "node_modules/$banned" ]]; then
        echo "image-build: node_modules/$banned is still present after pruning" >&2
        exit 1
      fi
    done
    # Every compiled module imports with production packages only (dynamic imports included, since
    # their targets are modules of dist/ too). The CLI entry runs its command on import, so it is
    # started as a process instead. The dashboard's scripts (dist/hosts/http/public) run in the
    # browser, not in Node.js: they are served, not imported.
    node --input-type=module - <<'EOF'
import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
const browserOnly = resolve('dist/hosts/http/public');
const walk = (dir) => readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
  e.isDirectory() ? (resolve(dir, e.name) === browserOnly ? [] : walk(join(dir, e.name)))
  : e.name.endsWith('.js') ? [join(dir, e.name)] : []);
const skip = new Set([resolve('dist/hosts/cli/main.js')]);
const warn = console.warn;
console.warn = () => {}; // @azure/functions warns that no host is present: expected here
let count = 0;
for (const file of walk('dist').map((f) => resolve(f)).filter((f) => !skip.has(f)).sort()) {
  try {
    await import(pathToFileURL(file).href);
    count++;
  } catch (error) {
    console.warn = warn;
    console.error(`image-build: ${file} does not load with production packages: ${error.message}`);
    process.exit(1);
  }
}
console.warn = warn;
console.log(`image-build: ${count} compiled modules load with production packages only`);
EOF
    node dist/hosts/cli/main.js --version >/dev/null
    node dist/hosts/cli/main.js --help >/dev/null
    echo "image-build: the CLI starts"
    ;;
  *)
    echo "usage: scripts/image-build.sh deps|app|check" >&2
    exit 2
    ;;
esac
