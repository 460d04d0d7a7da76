#!/usr/bin/env bash
# Measures what running the teachers in int8 saves in a distillation recipe:
# for each RECIPE (a recipes/NAME.json with a teacher), STEPS training steps
# (default 60) with --teacher-precision bf16 and int8, alternated ROUNDS times
# (default 2); prints the seconds and images/s of each run. Training data:
# FER-2013 train as scripts/prepare_fer2013.sh leaves it.
#   scripts/teacher_speed.sh RECIPE... [STEPS=60] [ROUNDS=2] [THREADS=2] [DATA=/tmp/ferdata/fer2013_train_restored]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
data="${DATA:-/tmp/ferdata/fer2013_train_restored}"
[[ $# -gt 0 ]] || { echo "usage: $(basename "$0") RECIPE..." >&2; exit 2; }
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
printf "%-28s %-7s %8s %8s\n" recipe teacher seconds "img/s"
for recipe in "$@"; do
  for ((round = 0; round < ${ROUNDS:-2}; ++round)); do
    for precision in bf16 int8; do
      run="$out/$recipe-$precision-$round"
      "$root/build/examples/fer" train --config "$root/recipes/$recipe.json" --data "$data" --cache "$out/cache" \
        --epochs 1 --max-steps "${STEPS:-60}" --threads "${THREADS:-2}" --calibrate 0 --no-progress --no-resume \
        --teacher-precision "$precision" --out "$run" > "$run.log" 2>&1 || { cat "$run.log" >&2; exit 1; }
      /usr/bin/python3 -c "import json, sys
r = [json.loads(l) for l in open(sys.argv[1])][-1]
print('%-28s %-7s %8.2f %8.0f' % (sys.argv[2], sys.argv[3], r['seconds'], r['images_per_second']))" \
        "$run/log.jsonl" "$recipe" "$precision"
    done
  done
done
