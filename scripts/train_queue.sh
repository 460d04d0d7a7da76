#!/usr/bin/env bash
# Trains and evaluates recipes one after another, as the results tables were
# made: for each RECIPE, scripts/train_recipe.sh (train, select on val, test
# once without TTA, with flip and ten-crop, and under occlusion), then, where
# the trained model has an int8 path (its file carries int8 calibration),
# scripts/quantize_recipe.sh (the int8 test rows). One run at a time: on the
# 2-core machine of the README one run on two threads trains faster than two
# runs side by side.
#   THREADS=2 scripts/train_queue.sh RECIPE...     (a recipe already trained is evaluated again)
#   THREADS=2 scripts/train_queue.sh --all          (every recipe in recipes/)
# Students name their teacher by the shipped file in models/, so the order
# does not matter. Resumable: rerun the same command after an interruption;
# finished epochs are kept. Stops at the first failing recipe.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
if [[ "${1:-}" == "--all" ]]; then
  recipes=()
  for f in "$root"/recipes/*.json; do recipes+=("$(basename "$f" .json)"); done
else
  recipes=("$@")
fi
[[ ${#recipes[@]} -gt 0 ]] || { echo "usage: $(basename "$0") RECIPE... | --all" >&2; exit 2; }
for r in "${recipes[@]}"; do
  [[ -f "$root/recipes/$r.json" ]] || { echo "no recipe $root/recipes/$r.json" >&2; exit 2; }
done
for r in "${recipes[@]}"; do
  echo "== $r ($(date -u +%FT%TZ))"
  "$here/train_recipe.sh" "$r"
  if /usr/bin/python3 -c "import sys; sys.path.insert(0, sys.argv[1]); import results_table as t
sys.exit(0 if 'int8' in t.model_header(sys.argv[2]) else 1)" "$here" "$root/runs/$r/best.fermodel"; then
    "$here/quantize_recipe.sh" "$r"
  fi
done
echo "== done ($(date -u +%FT%TZ)); tables: scripts/results_table.py [--occlusion | --effects]"
