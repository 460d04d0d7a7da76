#!/usr/bin/env bash
# Trains the FER-2013 teacher candidate, ResNet-18 at half width (2.8 M
# parameters): recipes/fer2013_resnet18_w05.json through scripts/train_recipe.sh,
# then calibrates it for int8 inference and tests it in int8 (scripts/quantize_recipe.sh).
#   scripts/train_fer2013_resnet18.sh [DATA_DIR (/tmp/ferdata)] [OUT_DIR (runs/fer2013_resnet18_w05)]
set -euo pipefail
here="$(dirname "${BASH_SOURCE[0]}")"
"$here/train_recipe.sh" fer2013_resnet18_w05 "$@"
"$here/quantize_recipe.sh" fer2013_resnet18_w05 "$@"
