#!/usr/bin/env bash
# Evaluates a trained recipe's model once on its test split in bf16: without
# test-time augmentation, with flip and with ten-crop (fer eval --tta), into
# OUT/test_none.json, test_flip.json, test_tencrop.json and the confusion
# matrices OUT/confusion_test_*.png; then without TTA under synthetic
# occlusion (fer eval --occlude eye|mouth|eye_or_mouth, seed 1) into
# OUT/test_occlusion_*.json. Every report also holds "correct" (fer eval
# --per-image: right or wrong per test image, no labels) for paired tests.
# scripts/train_recipe.sh runs it after training; scripts/results_table.py
# collects the reports.
#   scripts/eval_recipe.sh RECIPE [DATA_DIR (/tmp/ferdata)] [OUT_DIR (runs/RECIPE)]
# EVALS="tta occlusion" (default) picks the parts to run.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/recipe_args.sh"
[[ -f "$out/best.fermodel" ]] || { echo "no trained model $out/best.fermodel: run scripts/train_recipe.sh $recipe" >&2; exit 2; }
summary() {  # REPORT WHAT
  /usr/bin/python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print('%s test, %s: accuracy %.2f%%, macro-F1 %.2f%%' % (sys.argv[2], sys.argv[3], 100*j['accuracy'], 100*j['macro_f1']))" \
    "$1" "$recipe" "$2"
}
evals="${EVALS:-tta occlusion}"
if [[ " $evals " == *" tta "* ]]; then
  for tta in none flip tencrop; do
    "$fer" eval --model "$out/best.fermodel" "${test_data[@]}" --tta "$tta" --precision bf16 --threads "$threads" \
      --json --per-image --confusion-png "$out/confusion_test_$tta.png" > "$out/test_$tta.json.tmp"
    mv "$out/test_$tta.json.tmp" "$out/test_$tta.json"
    summary "$out/test_$tta.json" "TTA $tta"
  done
fi
if [[ " $evals " == *" occlusion "* ]]; then
  for occ in eye mouth eye_or_mouth; do
    "$fer" eval --model "$out/best.fermodel" "${test_data[@]}" --occlude "$occ" --occlude-seed 1 --tta none --precision bf16 \
      --threads "$threads" --json --per-image > "$out/test_occlusion_$occ.json.tmp"
    mv "$out/test_occlusion_$occ.json.tmp" "$out/test_occlusion_$occ.json"
    summary "$out/test_occlusion_$occ.json" "occluded $occ"
  done
fi
