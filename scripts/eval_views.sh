#!/usr/bin/env bash
# Accuracy of models with each single-pass view and with the TTA views, on the
# validation split (where the view is chosen) and the test split (reported
# once): `fer eval --tta none|center|flip|tencrop`, bf16. "center" is one pass
# over the centre crop of 90% of the area, the mean zoom of the random resized
# crops the models were trained on ("none" shows them the whole face, a zoom
# training never had on average). Prints a Markdown table; the JSON reports
# (with per-image results) go to OUT_DIR, for paired comparisons of two views:
#   scripts/results_table.py --compare-reports OUT/M_test_center.json OUT/M_test_none.json
#   scripts/eval_views.sh [--ferplus] MODEL.fermodel... [-- DATA_DIR (/tmp/ferdata) OUT_DIR (runs/views)]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
fer="${FER_CLI:-$root/build/examples/fer}"
ferplus=0
if [[ "${1:-}" == "--ferplus" ]]; then ferplus=1; shift; fi
models=()
while [[ $# -gt 0 && "$1" != "--" ]]; do models+=("$1"); shift; done
[[ "${1:-}" == "--" ]] && shift
[[ ${#models[@]} -gt 0 ]] || { echo "usage: scripts/eval_views.sh [--ferplus] MODEL.fermodel... [-- DATA_DIR OUT_DIR]" >&2; exit 2; }
data="${1:-/tmp/ferdata}"
out="${2:-$root/runs/views}"
threads="${THREADS:-2}"
mkdir -p "$out"
if [[ $ferplus == 1 ]]; then splits=(valid test); else splits=(val test); fi
views=(none center flip tencrop)
echo "| model | split | none | center | flip | ten-crop |"
echo "| --- | --- | ---: | ---: | ---: | ---: |"
for model in "${models[@]}"; do
  name="$(basename "$model" .fermodel)"
  for split in "${splits[@]}"; do
    row="| \`$name\` | $split |"
    if [[ $ferplus == 1 ]]; then split_args=(--format ferplus --data "$data/ferplus" --split "$split")
    else split_args=(--data "$data/fer2013/$split"); fi
    for view in "${views[@]}"; do
      "$fer" eval --model "$model" "${split_args[@]}" --tta "$view" --precision bf16 --threads "$threads" --json \
        --per-image > "$out/${name}_${split}_${view}.json"
      row+=$(/usr/bin/python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print(f\" {100*j['accuracy']:.2f}% |\", end='')" \
        "$out/${name}_${split}_${view}.json")
    done
    echo "$row"
  done
done
