#!/usr/bin/env bash
# Installs the operating-system packages the product needs, on Debian or Ubuntu. Used by CI and by
# the container images, so a step that breaks here breaks CI too.
#   scripts/install-system-deps.sh            ffmpeg (runtime)
#   scripts/install-system-deps.sh --test     ffmpeg plus what the test suite needs
#   scripts/install-system-deps.sh --image-tools   ffmpeg plus what scripts/image-local.sh needs
set -euo pipefail

packages=(ffmpeg ca-certificates)
case "${1:-}" in
  --test)
    # procps: tests inspect processes; chromium: dashboard tests drive it with playwright-core.
    packages+=(procps chromium)
    ;;
  --image-tools)
    # buildah builds and runs the image without a Docker engine; debootstrap makes its base.
    packages+=(buildah debootstrap)
    ;;
esac

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "system packages present: ${packages[*]}"
  exit 0
fi

SUDO=""
[[ $(id -u) -ne 0 ]] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
rm -rf /var/lib/apt/lists/* 2>/dev/null || true
echo "installed: ${missing[*]}"
