#!/usr/bin/env bash
# The sanitizer and fuzzing stage of the tests (scripts/test.sh runs it):
# builds libfer with clang, AddressSanitizer + UndefinedBehaviorSanitizer and
# libFuzzer coverage in build-sanitize/, runs the unit tests and the C API test
# under the sanitizers (leak checking on), then runs every fuzz target for a
# bounded time, first over the saved crash regressions in fuzz/regressions/.
#
#   scripts/sanitize.sh                       all of it
#   FER_FUZZ_SECONDS=600 scripts/sanitize.sh  a longer fuzz run per target (default 45)
#   FER_SANITIZE_TESTS='*model*' ...          a doctest filter for the unit tests (default: all)
#   FER_FUZZ_SEED=N ...                       libFuzzer's seed (default 1, so CI runs are repeatable)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$root/build-sanitize"
fuzz_seconds="${FER_FUZZ_SECONDS:-45}"
jobs="$(nproc)"

# NDEBUG as in Release: LibTorch's headers change class layouts without it.
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_C_FLAGS_RELEASE="-O1 -gline-tables-only -DNDEBUG" -DCMAKE_CXX_FLAGS_RELEASE="-O1 -gline-tables-only -DNDEBUG" \
  -DFER_SANITIZE=address,undefined -DFER_FUZZ=ON \
  -DFER_BUILD_PYTHON=OFF -DFER_BUILD_EXAMPLES=OFF -DFER_BUILD_BENCHMARKS=OFF >/dev/null
targets=(fer_unit_tests fer_c_api_test fer_to_pnm fer_fuzz_seeds fer_fuzz_model_file fer_fuzz_tfjs_weights fer_fuzz_datasets
         fer_fuzz_c_image)
cmake --build "$build" -j "$jobs" --target "${targets[@]}"
echo "== sanitizer build took $SECONDS s"

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=0"
export LSAN_OPTIONS="suppressions=$root/scripts/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

echo "== unit tests under ASan + UBSan"
# Without the shipped models' accuracy checks on the real validation sets
# (tens of full evaluations: numerics, run by ctest; under the sanitizers
# they took most of this stage). Their code paths run here on synthetic data.
"$build/tests/fer_unit_tests" ${FER_SANITIZE_TESTS:+-tc="$FER_SANITIZE_TESTS"} -tce="shipped models: the *"
echo "== C API test under ASan + UBSan (unit tests done at $SECONDS s)"
mkdir -p "$build/tmp"
"$build/tests/fer_to_pnm" "$root/assets/face-api/demo/sample3.jpg" "$build/tmp/sample3.ppm" 640 || true
"$build/tests/fer_c_api_test" "$build/tmp" "$build/tmp/sample3.ppm" "$root/models/default.fermodel" \
  "$root/assets/face-api/model/ssd_mobilenetv1_model-weights_manifest.json" "$root/models/fer2013_acnn.fermodel"

echo "== fuzzing, ${fuzz_seconds} s per target (C API test done at $SECONDS s)"
corpus="$build/fuzz-corpus"
artifacts="$build/fuzz-artifacts"
mkdir -p "$corpus" "$artifacts"
"$build/fuzz/fer_fuzz_seeds" "$corpus" >/dev/null
for target in model_file tfjs_weights datasets c_image; do
  exe="$build/fuzz/fer_fuzz_$target"
  regressions="$root/fuzz/regressions/$target"
  if compgen -G "$regressions/*" >/dev/null; then
    "$exe" "$regressions"/* 2>&1 | tail -n 2
  fi
  case "$target" in  # room for the seed (a small model file, a fer2013.csv of two rows) plus mutations
    model_file) max_len=65536 ;;
    datasets) max_len=32768 ;;
    *) max_len=8192 ;;
  esac
  "$exe" "$corpus/$target" -seed="${FER_FUZZ_SEED:-1}" -max_total_time="$fuzz_seconds" -timeout=20 -rss_limit_mb=4096 -max_len="$max_len" \
    -artifact_prefix="$artifacts/$target-" -print_final_stats=1 2>&1 |
    grep -E "stat::number_of_executed_units|stat::peak_rss_mb|ERROR|SUMMARY|artifact" || true
  if compgen -G "$artifacts/$target-*" >/dev/null; then
    echo "fuzz: $target found a crash; inputs in $artifacts (add them to fuzz/regressions/$target/ once fixed)" >&2
    exit 1
  fi
done
echo "sanitize: all clean ($SECONDS s)"
