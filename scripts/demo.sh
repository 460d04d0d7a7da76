#!/usr/bin/env bash
# Installs (scripts/setup.sh), builds libfer in Release and runs the fer
# program on a sample photo: prints each face's box, expression and
# probabilities and writes out/annotated.png.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup.sh"
"$root/scripts/build.sh"
mkdir -p "$root/out"
"$root/build/examples/fer" image "$root/assets/face-api/demo/sample3.jpg" --out "$root/out/annotated.png"
