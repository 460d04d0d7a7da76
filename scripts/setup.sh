#!/usr/bin/env bash
# Installs what libfer needs on Debian 12 and fetches third-party assets.
# Idempotent: run it again at any time. Needs root (or sudo) for apt-get.
#
#   scripts/setup.sh            packages + assets
#   scripts/setup.sh --assets   assets only (no root needed)
#
# Assets (not ours, never committed): the npm package @vladmandic/face-api@1.7.15
# (MIT): face detector and landmark weights in TF.js format and sample photos,
# unpacked into assets/face-api/ and checked against SHA-256 sums.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

packages=(
  build-essential cmake ninja-build pkg-config
  libtorch-dev libopenblas0-openmp
  libopencv-dev opencv-data
  libeigen3-dev nlohmann-json3-dev
  doctest-dev libbenchmark-dev libgloo-dev
  clang libclang-rt-14-dev
  pybind11-dev python3-dev python3-numpy python3-pytest python3-torch python3-opencv
  python3-nbclient python3-ipykernel python3-matplotlib
  ca-certificates
)

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

install_packages() {
  local missing=()
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ! command -v npm >/dev/null 2>&1; then missing+=(npm); fi
  if [ ${#missing[@]} -eq 0 ]; then
    echo "setup: all Debian packages present"
    return
  fi
  echo "setup: installing ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# --- third-party assets ------------------------------------------------------
face_api_version=1.7.15
face_api_tgz_sha256=0d77fffeef362ef9c0939cf6c567f3a2e8e177f114fa257a3270cbd2e509b031
assets="$root/assets"
face_api="$assets/face-api"

fetch_assets() {
  if [ -f "$face_api/.complete" ] && (cd "$face_api" && sha256sum --quiet -c "$root/scripts/face-api.sha256"); then
    echo "setup: assets present in $face_api"
    return
  fi
  local tmp
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' RETURN
  echo "setup: fetching @vladmandic/face-api@$face_api_version with npm pack"
  (cd "$tmp" && npm pack --silent "@vladmandic/face-api@$face_api_version" >/dev/null)
  local tgz="$tmp/vladmandic-face-api-$face_api_version.tgz"
  echo "$face_api_tgz_sha256  $tgz" | sha256sum --quiet -c - || {
    echo "setup: SHA-256 mismatch for $tgz; refusing to use it" >&2
    exit 1
  }
  tar -xzf "$tgz" -C "$tmp"
  rm -rf "$face_api"
  mkdir -p "$face_api/model" "$face_api/demo"
  cp "$tmp"/package/model/*.json "$tmp"/package/model/*.bin "$face_api/model/"
  cp "$tmp"/package/demo/sample*.jpg "$face_api/demo/"
  cp "$tmp"/package/LICENSE "$face_api/LICENSE"
  (cd "$face_api" && sha256sum --quiet -c "$root/scripts/face-api.sha256")
  touch "$face_api/.complete"
  echo "setup: assets in $face_api"
}

if [ "${1:-}" != "--assets" ]; then
  install_packages
fi
fetch_assets
