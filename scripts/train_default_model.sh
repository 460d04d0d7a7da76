#!/usr/bin/env bash
# Trains the shipped default model's recipe, small_cnn (pool=grid) on FER-2013:
# recipes/fer2013_small_cnn.json through scripts/train_recipe.sh.
#   scripts/train_default_model.sh [DATA_DIR (/tmp/ferdata)] [OUT_DIR (runs/fer2013_small_cnn)]
exec "$(dirname "${BASH_SOURCE[0]}")/train_recipe.sh" fer2013_small_cnn "$@"
