#!/usr/bin/env bash
# Trains the FER-2013 teacher candidate, ResNet-18 at half width (2.8 M
# parameters): recipes/fer2013_resnet18_w05.json through scripts/train_recipe.sh.
#   scripts/train_fer2013_resnet18.sh [DATA_DIR (/tmp/ferdata)] [OUT_DIR (runs/fer2013_resnet18_w05)]
exec "$(dirname "${BASH_SOURCE[0]}")/train_recipe.sh" fer2013_resnet18_w05 "$@"
