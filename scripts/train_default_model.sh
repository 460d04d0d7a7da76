#!/usr/bin/env bash
# Trains the shipped default model (models/default.fermodel): ResNet-18 at
# width 0.35 on FER-2013, distilled offline from the ten-crop probabilities of
# the two shipped half-width ResNets (recipes/fer2013_resnet18_w035_tt.json;
# scripts/train_recipe.sh computes the targets file first). Then calibrates it
# for int8 inference and tests it in int8 (scripts/quantize_recipe.sh), and
# writes the bf16-stored copy that ships (OUT_DIR/default.fermodel) with its
# own test-time view chosen on FER-2013 val (fer choose-view: none or center).
# The previous default, small_cnn distilled from the ResNet, is
# recipes/fer2013_small_cnn_kd.json (models/fer2013_small_cnn_kd.fermodel).
#   THREADS=2 scripts/train_default_model.sh [DATA_DIR (/tmp/ferdata)] [OUT_DIR (runs/fer2013_resnet18_w035_tt)]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/recipe_args.sh" fer2013_resnet18_w035_tt "$@"  # sets recipe, out and fer as the recipe scripts see them
"$here/train_recipe.sh" "$recipe" "$@"
"$here/quantize_recipe.sh" "$recipe" "$@"
"$fer" convert "$out/best.fermodel" "$out/default_bf16.fermodel" --storage bfloat16
"$fer" choose-view --model "$out/default_bf16.fermodel" --data "$data/fer2013/val" --precision bf16 \
  --threads "$threads" --out "$out/default.fermodel"
echo "default model: $out/default.fermodel (compare with models/default.fermodel: fer info, fer eval)"
