#!/usr/bin/env bash
# Trains the shipped default model: small_cnn (pool=grid) on FER-2013, distilled
# from the shipped ResNet-18 (models/fer2013_resnet18_w05.fermodel):
# recipes/fer2013_small_cnn_kd.json through scripts/train_recipe.sh. The same
# network without a teacher is recipes/fer2013_small_cnn.json. Then calibrates
# it for int8 inference and tests it in int8 (scripts/quantize_recipe.sh).
#   scripts/train_default_model.sh [DATA_DIR (/tmp/ferdata)] [OUT_DIR (runs/fer2013_small_cnn_kd)]
set -euo pipefail
here="$(dirname "${BASH_SOURCE[0]}")"
"$here/train_recipe.sh" fer2013_small_cnn_kd "$@"
"$here/quantize_recipe.sh" fer2013_small_cnn_kd "$@"
