#!/usr/bin/env bash
# CI: runs the container image's build steps outside Docker (no Docker engine is needed), so a
# step that would break `docker build` breaks CI first. It copies what the Dockerfile copies into a
# temporary folder and runs the same scripts there, leaving the working tree and its node_modules
# alone:
#   build stage    scripts/image-build.sh deps, app, check   (npm ci, compile, prune, verify)
#   runtime stage  scripts/install-system-deps.sh            (ffmpeg from the OS packages)
# Keep CONTEXT in step with the Dockerfile's COPY lines (test/image.test.ts checks it).
set -euo pipefail
cd "$(dirname "$0")/.."

CONTEXT=(
  package.json
  package-lock.json
  tsconfig.json
  tsconfig.build.json
  host.json
  src
  scripts/image-build.sh
  scripts/copy-assets.mjs
  scripts/install-system-deps.sh
)

work="$(mktemp -d "${TMPDIR:-/tmp}/thumbnailer-image-steps-XXXXXX")"
trap 'rm -rf "$work"' EXIT
app="$work/app"
mkdir -p "$app/scripts"
for path in "${CONTEXT[@]}"; do
  cp -R "$path" "$app/$path"
done

started=$SECONDS
echo "== runtime stage: system packages"
bash scripts/install-system-deps.sh
ffmpeg -hide_banner -version | sed -n 1p
ffprobe -hide_banner -version | sed -n 1p

cd "$app"
echo "== build stage: npm ci"
bash scripts/image-build.sh deps
echo "== build stage: compile and prune"
bash scripts/image-build.sh app
echo "== build stage: check the pruned application"
bash scripts/image-build.sh check
echo "image build steps passed in $((SECONDS - started)) s"
