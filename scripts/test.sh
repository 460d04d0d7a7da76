#!/usr/bin/env bash
# Installs (scripts/setup.sh), builds libfer, runs every test with ctest, then
# the sanitizer and fuzzing stage (scripts/sanitize.sh: unit and C API tests
# under ASan + UBSan, a bounded fuzz run per target). FER_SKIP_SANITIZE=1 skips
# that stage for a quick local run; CI always runs it.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup.sh"
"$root/scripts/build.sh"
(cd "$root/build" && ctest --output-on-failure -j "$(nproc)")
if [ "${FER_SKIP_SANITIZE:-0}" != 1 ]; then
  "$root/scripts/sanitize.sh"
fi
