#!/usr/bin/env bash
# Calibrates a trained recipe's model for int8 inference (fer quantize: 2,000
# training images, seed 0; never test images), then evaluates it once in int8
# on the test split, without TTA, with flip and with ten-crop TTA (OUT/test_int8_none.json, ..._flip.json,
# ..._tencrop.json).
#   scripts/quantize_recipe.sh RECIPE [DATA_DIR (/tmp/ferdata)] [OUT_DIR (runs/RECIPE)]
# Only architectures with an int8 path (small_cnn, resnet18, resnet34, acnn, vit_asf) can be calibrated.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
recipe="$(basename "${1:?usage: scripts/quantize_recipe.sh RECIPE [DATA_DIR] [OUT_DIR]}" .json)"
data="${2:-/tmp/ferdata}"
out="${3:-$root/runs/$recipe}"
threads="${THREADS:-1}"
fer="$root/build/examples/fer"
[[ -f "$out/best.fermodel" ]] || { echo "no trained model $out/best.fermodel: run scripts/train_recipe.sh $recipe" >&2; exit 2; }
case "$recipe" in
  fer2013_*)
    calib=(--data "$data/fer2013_train_restored")
    test_data=(--data "$data/fer2013/test") ;;
  ferplus_*)
    calib=(--format ferplus --data "$data/ferplus" --split train)
    test_data=(--format ferplus --data "$data/ferplus" --split test) ;;
  *) echo "recipe name must start with fer2013_ or ferplus_: $recipe" >&2; exit 2 ;;
esac
"$fer" quantize --model "$out/best.fermodel" "${calib[@]}" --images 2000 --seed 0 --threads "$threads" \
  --out "$out/best.fermodel"
for tta in none flip tencrop; do
  "$fer" eval --model "$out/best.fermodel" "${test_data[@]}" --tta "$tta" --precision int8 --threads "$threads" \
    --json | tee "$out/test_int8_$tta.json"
done
