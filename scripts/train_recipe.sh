#!/usr/bin/env bash
# Trains one recipe of recipes/ (a JSON file of `fer train` flags), selects the
# best epoch on the validation split, then evaluates it once on the test split,
# without test-time augmentation, with flip and with ten-crop
# (scripts/eval_recipe.sh).
#   scripts/train_recipe.sh RECIPE [DATA_DIR (/tmp/ferdata)] [OUT_DIR (runs/RECIPE)]
# RECIPE is a name such as fer2013_resnet18_w05 or ferplus_resnet18_w05; the
# prefix picks the dataset and protocol (scripts/recipe_args.sh):
#   fer2013_*  train on the restored FER-2013 train images, select on val/, report test/
#   ferplus_*  train on FER2013Train (votes), select on FER2013Valid, report FER2013Test
#              (majority vote, 8 classes)
# THREADS (default 1) sets the intra-op threads. TRAIN_ARGS adds `fer train`
# flags that win over the recipe's (e.g. TRAIN_ARGS="--epochs 1 --max-steps 2"
# for a quick check; tests/scripts/test_recipes.py runs every recipe so).
# Resumable: rerun the same command after an interruption (Ctrl-C keeps the
# last complete epoch).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/recipe_args.sh"
config="$root/recipes/$recipe.json"
[[ -f "$config" ]] || { echo "no recipe $config" >&2; exit 2; }
cd "$root"  # recipes name teacher models relative to the repository root
"$root/scripts/prepare_fer2013.sh" "$data"
read -ra extra_args <<< "${TRAIN_ARGS:-}"
start=$(date +%s)
"$fer" train --config "$config" "${train_data[@]}" --threads "$threads" --no-progress --out "$out" "${extra_args[@]}"
echo "training wall time this invocation: $(( $(date +%s) - start )) s on $(nproc) cores, THREADS=$threads"
"$root/scripts/eval_recipe.sh" "$recipe" "$data" "$out"
