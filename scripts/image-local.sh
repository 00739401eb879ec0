#!/usr/bin/env bash
# Builds the worker image of the real Dockerfile on a machine with no Docker engine and no access
# to a container registry, then checks it from inside (scripts/image-check.ts). CI runs it.
#
#   bash scripts/image-local.sh            (npm run image:local)
#   bash scripts/image-local.sh --fresh    assemble the base again, build without the layer cache
#
# 1. base   Debian (the suite of the Dockerfile's default Node.js image) from debootstrap, plus the
#           Node.js and npm of that image from the npm registry, laid out as the official image
#           lays them out (node and npm in /usr/local/bin, a `node` user with uid 1000), committed
#           to buildah's storage as localhost/video-thumbnailer-base:<key>. The key is a hash of
#           the recipe and its versions: a warm run reuses the base, a changed recipe makes a new one.
# 2. build  `buildah bud --isolation chroot --target worker --build-arg NODE_IMAGE=<base>`, the
#           layer cache on, tagged localhost/video-thumbnailer:test.
# 3. check  the image's own entrypoint, as its own user, against test/fixtures/city-cc0.mp4 and an
#           Azurite on 127.0.0.1 (scripts/image-check.ts says what is checked).
#
# Downloads are cached in .cache/image/ (git-ignored); nothing is written to $HOME, and nothing
# under /var but buildah's own storage. Needs root, buildah and debootstrap (Debian packages:
# `bash scripts/install-system-deps.sh --image-tools`). Every step's output goes to
# .cache/image/logs/; a failed step ends the script with one line naming the cause.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"

IMAGE=localhost/video-thumbnailer:test
BASE_REPO=localhost/video-thumbnailer-base
CACHE="$ROOT/.cache/image"
LOGS="$CACHE/logs"
MIRROR="${IMAGE_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
SECURITY_MIRROR="${IMAGE_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}"
FRESH=0
for arg in "$@"; do
  case "$arg" in
    --fresh) FRESH=1 ;;
    *)
      echo "usage: scripts/image-local.sh [--fresh]" >&2
      exit 2
      ;;
  esac
done
mkdir -p "$CACHE/npm" "$CACHE/debs" "$LOGS"

# A failed step: the log's tail in CI (where the log is all that remains), then the one line.
fail() {
  local step="$1" cause="$2"
  if [[ -n "${CI:-}" && -f "$LOGS/$step.log" ]]; then
    echo "---- last lines of $LOGS/$step.log" >&2
    tail -n 40 "$LOGS/$step.log" >&2
  fi
  echo "image-local: $step failed: $cause (log: ${LOGS#"$ROOT"/}/$step.log)" >&2
  exit 1
}

# The line of a log that names what went wrong: our own scripts' messages first, then the
# errors of npm, apt, tsc, node and buildah, else the last line.
cause_in() {
  local log="$1" line
  line="$(grep -E '^(image-build|image-check): ' "$log" | grep -v -E ': (ok|the CLI starts|[0-9]+ compiled)' | tail -n 1 || true)"
  [[ -n "$line" ]] || line="$(grep -E '^npm (ERR|error)|^E: |error TS[0-9]+|^Error|Error: |^error ' "$log" | grep -v -E '^npm (ERR|error) (A complete log|$)' | tail -n 1 || true)"
  [[ -n "$line" ]] || line="$(grep -v '^\s*$' "$log" | tail -n 1 || true)"
  [[ -n "$line" ]] || line="it stopped with no output"
  printf '%s' "${line:0:400}"
}

# Runs one step in a subshell (where `set -e` holds: it would not under `if`), its output in its
# log; on failure, ends the script naming the cause.
step() {
  local name="$1" rc
  shift
  set +e
  (
    set -e
    "$@"
  ) >"$LOGS/$name.log" 2>&1
  rc=$?
  set -e
  [[ $rc -eq 0 ]] || fail "$name" "$(cause_in "$LOGS/$name.log")"
}

[[ $(id -u) -eq 0 ]] || fail preflight "buildah's chroot isolation and debootstrap need root here"
for tool in buildah debootstrap; do
  command -v "$tool" >/dev/null ||
    fail preflight "$tool is not installed: bash scripts/install-system-deps.sh --image-tools"
done

# ---- 1. base -------------------------------------------------------------------------------------
# The Dockerfile's default Node.js image, read from its FROM line: node:<version>-<suite>-slim.
node_image="$(sed -n -E 's/^FROM (node:[^ @]+)(@sha256:[0-9a-f]+)? AS node-image$/\1/p' Dockerfile)"
[[ "$node_image" =~ ^node:([0-9]+\.[0-9]+\.[0-9]+)-([a-z]+)-slim$ ]] ||
  fail preflight "the Dockerfile's node-image stage ($node_image) is not node:<x.y.z>-<suite>-slim"
NODE_VERSION="${BASH_REMATCH[1]}"
SUITE="${BASH_REMATCH[2]}"
case "$(uname -m)" in
  x86_64) NODE_ARCH=x64 DEB_ARCH=amd64 ;;
  aarch64) NODE_ARCH=arm64 DEB_ARCH=arm64 ;;
  *) fail preflight "no Node.js package for $(uname -m)" ;;
esac

# Fetches a package tarball into the cache with npm (which checks its integrity); prints its path.
npm_tarball() {
  local spec="$1" file="$CACHE/npm/${1/@/-}.tgz"
  if [[ ! -s "$file" ]]; then
    (cd "$CACHE/npm" && npm pack --silent "$spec" >/dev/null)
  fi
  [[ -s "$file" ]] || { echo "npm pack $spec did not write $file" >&2; return 1; }
  printf '%s\n' "$file"
}

# The npm that a Node.js release bundles, as its changelog says ("deps: upgrade npm to x.y.z",
# in that release's section or the nearest one before it).
bundled_npm() {
  tar -xzOf "$1" package/CHANGELOG.md |
    awk -v v="$NODE_VERSION" '
      $0 ~ "<a id=\"" v "\"></a>" { on = 1 }
      on && !found && match($0, /upgrade npm to [0-9]+\.[0-9]+\.[0-9]+/) { found = substr($0, RSTART + 15, RLENGTH - 15) }
      END { print found }'
}

# Debian's minimal base, trimmed like the official -slim images, with the Node.js and npm
# tarballs laid out as the official Node.js image lays them out. Writes a root filesystem tar.
assemble_base() {
  local out="$1" node_tgz="$2" npm_tgz="$3" work rootfs
  work="$(mktemp -d "$CACHE/base-XXXXXX")"
  rootfs="$work/rootfs"
  # debootstrap mounts /proc and /sys in the target while it works: never delete through them.
  trap "umount -l '$rootfs/proc' '$rootfs/sys' 2>/dev/null || true; rm -rf --one-file-system '$work'" EXIT
  debootstrap --variant=minbase --arch="$DEB_ARCH" --cache-dir="$CACHE/debs" "$SUITE" "$rootfs" "$MIRROR"

  # The official image's sources: the suite, its updates and its security fixes.
  rm -f "$rootfs/etc/apt/sources.list"
  cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $MIRROR
Suites: $SUITE $SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $SECURITY_MIRROR
Suites: $SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  # How this host reaches its mirror (a proxy, a frozen snapshot's expired Release dates), so that
  # apt-get inside the build works as it does here.
  apt-config dump | grep -E '^Acquire::(https?::Proxy|Check-Valid-Until|Check-Date) ' \
    >"$rootfs/etc/apt/apt.conf.d/90host-acquire" || rm -f "$rootfs/etc/apt/apt.conf.d/90host-acquire"
  # What debian:<suite>-slim does: no documentation, manual pages or translations (now or from
  # later installs), no package caches kept.
  cat >"$rootfs/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/*
EOF
  cat >"$rootfs/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
  echo 'Acquire::Languages "none";' >"$rootfs/etc/apt/apt.conf.d/docker-no-languages"
  find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  find "$rootfs/usr/share/doc" -mindepth 1 -type d -empty -delete
  rm -rf "$rootfs"/usr/share/{man,info,lintian}/* "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*
  find "$rootfs/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
  rm -f "$rootfs"/var/log/{alternatives,bootstrap,dpkg}.log "$rootfs"/var/log/apt/*
  # This host's name and resolver came along with debootstrap: a container runtime provides its own.
  rm -f "$rootfs/etc/hostname" "$rootfs/etc/resolv.conf"

  # Node.js and npm where the official image puts them.
  tar -xzf "$node_tgz" -C "$work" package/bin/node package/include package/share
  install -m 0755 "$work/package/bin/node" "$rootfs/usr/local/bin/node"
  cp -R "$work/package/include/." "$rootfs/usr/local/include/"
  mkdir -p "$rootfs/usr/local/share/doc" "$rootfs/usr/local/lib/node_modules/npm"
  cp -R "$work/package/share/doc/node" "$rootfs/usr/local/share/doc/"
  tar -xzf "$npm_tgz" -C "$rootfs/usr/local/lib/node_modules/npm" --strip-components=1
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
  # The CA bundle and registry this host's npm uses (here a TLS-inspecting egress), so that the
  # build stage's `npm ci` reaches the registry as `npm ci` does here. Nothing else of the host's
  # npm configuration (no token) is carried.
  local cafile registry
  cafile="$(npm config get cafile)"
  registry="$(npm config get registry)"
  {
    echo "registry=$registry"
    if [[ -n "$cafile" && "$cafile" != null && "$cafile" != undefined ]]; then
      install -m 0644 "$cafile" "$rootfs/usr/local/etc/npm-ca.pem"
      echo "cafile=/usr/local/etc/npm-ca.pem"
    fi
  } >"$rootfs/usr/local/etc/npmrc"

  # The official image's user: node, uid and gid 1000, home /home/node.
  chroot "$rootfs" groupadd --gid 1000 node
  chroot "$rootfs" useradd --uid 1000 --gid node --shell /bin/bash --create-home node
  chroot "$rootfs" node --version
  chroot "$rootfs" npm --version

  tar --numeric-owner --xattrs -C "$rootfs" -cf "$out.partial" .
  mv "$out.partial" "$out"
}

prepare_base() {
  local key tar node_tgz npm_version npm_tgz ctr
  # The npm version follows from the Node.js release, so the key needs no download: a warm run
  # fetches nothing.
  key="$(
    {
      declare -f assemble_base bundled_npm
      echo "$SUITE $DEB_ARCH $MIRROR $SECURITY_MIRROR node $NODE_VERSION"
    } | sha256sum | cut -c1-12
  )"
  BASE="$BASE_REPO:node$NODE_VERSION-$SUITE-$key"
  if [[ $FRESH -eq 0 ]] && buildah inspect --type image "$BASE" >/dev/null 2>&1; then
    echo "base: $BASE ($(buildah inspect --type image --format "{{index .OCIv1.Config.Labels \"$DESCRIPTION\"}}" "$BASE"))"
    echo "base: reused from buildah's storage"
    return 0
  fi
  node_tgz="$(npm_tarball "node-linux-$NODE_ARCH@$NODE_VERSION")"
  npm_version="$(bundled_npm "$node_tgz")"
  [[ -n "$npm_version" ]] || { echo "Node.js $NODE_VERSION's changelog names no npm version" >&2; return 1; }
  npm_tgz="$(npm_tarball "npm@$npm_version")"
  echo "base: $BASE (Debian $SUITE minbase, Node.js $NODE_VERSION, npm $npm_version)"
  tar="$CACHE/base-$key.tar"
  if [[ $FRESH -eq 1 || ! -s "$tar" ]]; then
    rm -f "$CACHE"/base-*.tar
    assemble_base "$tar" "$node_tgz" "$npm_tgz"
  fi
  ctr="$(buildah from scratch)"
  buildah add --quiet "$ctr" "$tar" /
  buildah config \
    --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env NODE_VERSION="$NODE_VERSION" \
    --cmd node \
    --label "$DESCRIPTION=Debian $SUITE minbase, Node.js $NODE_VERSION, npm $npm_version" \
    "$ctr"
  buildah commit --quiet --rm --format docker "$ctr" "$BASE" >/dev/null
  # Earlier bases of other recipes are of no further use.
  buildah images --format '{{.Name}}:{{.Tag}}' --filter "reference=$BASE_REPO" |
    grep -v -x -F "$BASE" | xargs -r buildah rmi >/dev/null 2>&1 || true
}

DESCRIPTION=org.opencontainers.image.description
started=$SECONDS
echo "== 1. base"
step base prepare_base
sed -n 's/^base: //p' "$LOGS/base.log"
BASE="$(sed -n -E 's/^base: (localhost\/[^ ]+) .*/\1/p' "$LOGS/base.log")"
base_seconds=$((SECONDS - started))

# ---- 2. build ------------------------------------------------------------------------------------
echo "== 2. build: the worker target of the Dockerfile on $BASE"
build_started=$SECONDS
build_flags=(--layers --force-rm)
[[ $FRESH -eq 1 ]] && build_flags+=(--no-cache)
step build buildah bud --isolation chroot --format docker "${build_flags[@]}" \
  --pull=never --target worker --build-arg NODE_IMAGE="$BASE" --tag "$IMAGE" .
build_seconds=$((SECONDS - build_started))
size="$(buildah images --format '{{.Size}}' "$IMAGE" | head -n 1)"
echo "image: $IMAGE, $size, built in $build_seconds s (base ready in $base_seconds s)"

# ---- 3. check ------------------------------------------------------------------------------------
echo "== 3. check: the image from inside"
check_started=$SECONDS
if ! node --import tsx scripts/image-check.ts "$IMAGE" 2>&1 | tee "$LOGS/check.log"; then
  fail check "$(cause_in "$LOGS/check.log")"
fi
echo "image-local: $IMAGE passed in $((SECONDS - started)) s (base $base_seconds s, build $build_seconds s, checks $((SECONDS - check_started)) s)"
