#!/usr/bin/env bash
# Installs (scripts/setup.sh), builds libfer, runs every test with ctest, then
# the sanitizer and fuzzing stage (scripts/sanitize.sh: unit and C API tests
# under ASan + UBSan, a bounded fuzz run per target). FER_SKIP_SANITIZE=1 skips
# that stage for a quick local run; CI always runs it.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Each stage says how long it took (CI has a time limit; this shows where it goes).
stage() {
  local name="$1" start=$SECONDS
  shift
  "$@"
  echo "== test.sh: $name took $((SECONDS - start)) s"
}
stage set-up "$root/scripts/setup.sh"
stage build "$root/scripts/build.sh"
stage ctest bash -c 'cd "$1/build" && ctest --output-on-failure -j "$(nproc)"' _ "$root"
if [ "${FER_SKIP_SANITIZE:-0}" != 1 ]; then
  stage sanitize "$root/scripts/sanitize.sh"
fi
echo "== test.sh: all stages took $SECONDS s"
