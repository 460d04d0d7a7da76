#!/usr/bin/env bash
# Calibrates a trained recipe's model for int8 inference (fer quantize: 2,000
# training images, seed 0; never test images), then evaluates it once in int8
# on the test split, without TTA, with flip and with ten-crop TTA
# (OUT/test_int8_none.json, ..._flip.json, ..._tencrop.json).
#   scripts/quantize_recipe.sh RECIPE [DATA_DIR (/tmp/ferdata)] [OUT_DIR (runs/RECIPE)]
# Only architectures with an int8 path (small_cnn, resnet18, resnet34, acnn, vit_asf) can be calibrated.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/recipe_args.sh"
[[ -f "$out/best.fermodel" ]] || { echo "no trained model $out/best.fermodel: run scripts/train_recipe.sh $recipe" >&2; exit 2; }
"$fer" quantize --model "$out/best.fermodel" "${calib_data[@]}" --images 2000 --seed 0 --threads "$threads" \
  --out "$out/best.fermodel"
for tta in none flip tencrop; do
  "$fer" eval --model "$out/best.fermodel" "${test_data[@]}" --tta "$tta" --precision int8 --threads "$threads" \
    --json --per-image | tee "$out/test_int8_$tta.json"
done
