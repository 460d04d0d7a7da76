#!/usr/bin/env bash
# Accuracy of a model on FER-2013 test under synthetic occlusion: no occlusion,
# one eye, the mouth, and one of the three per image (seeded, see
# `fer eval --help`), bf16 without TTA. Prints a Markdown table row of
# accuracy / macro-F1 per condition; the JSON reports go to OUT_DIR.
#   scripts/eval_occlusion.sh MODEL.fermodel [DATA_DIR (/tmp/ferdata)] [OUT_DIR (runs/occlusion)] [SEED (1)]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
model="${1:?usage: scripts/eval_occlusion.sh MODEL.fermodel [DATA_DIR] [OUT_DIR] [SEED]}"
data="${2:-/tmp/ferdata}"
out="${3:-$root/runs/occlusion}"
seed="${4:-1}"
name="$(basename "$model" .fermodel)"
mkdir -p "$out"
row="| \`$name\` |"
for occ in none eye mouth eye_or_mouth; do
  "$root/build/examples/fer" eval --model "$model" --data "$data/fer2013/test" --occlude "$occ" --occlude-seed "$seed" --tta none \
    --precision bf16 --json > "$out/${name}_$occ.json"
  row+=$(/usr/bin/python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print(f\" {100*j['accuracy']:.2f}% / {100*j['macro_f1']:.2f}% |\", end='')" "$out/${name}_$occ.json")
done
echo "$row"
