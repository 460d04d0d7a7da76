#!/usr/bin/env bash
# Trains one recipe of recipes/ (a JSON file of `fer train` flags), selects the
# best epoch on the validation split, then evaluates it once on the test split,
# without test-time augmentation, with flip and with ten-crop (fer eval --tta).
#   scripts/train_recipe.sh RECIPE [DATA_DIR (/tmp/ferdata)] [OUT_DIR (runs/RECIPE)]
# RECIPE is a name such as fer2013_resnet18_w05 or ferplus_resnet18_w05; the
# prefix picks the dataset and protocol:
#   fer2013_*  train on the restored FER-2013 train images, select on val/, report test/
#   ferplus_*  train on FER2013Train (votes), select on FER2013Valid, report FER2013Test
#              (majority vote, 8 classes)
# THREADS (default 1) sets the intra-op threads. Resumable: rerun the same
# command after an interruption (Ctrl-C keeps the last complete epoch).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
recipe="${1:?usage: scripts/train_recipe.sh RECIPE [DATA_DIR] [OUT_DIR]}"
recipe="$(basename "$recipe" .json)"
data="${2:-/tmp/ferdata}"
out="${3:-$root/runs/$recipe}"
threads="${THREADS:-1}"
config="$root/recipes/$recipe.json"
fer="$root/build/examples/fer"
[[ -f "$config" ]] || { echo "no recipe $config" >&2; exit 2; }
[[ -x "$fer" ]] || { echo "build first: scripts/build.sh" >&2; exit 2; }
cd "$root"  # recipes name teacher models relative to the repository root
"$root/scripts/prepare_fer2013.sh" "$data"
case "$recipe" in
  fer2013_*)
    train_data=(--data "$data/fer2013_train_restored" --val "$data/fer2013/val")
    test_data=(--data "$data/fer2013/test") ;;
  ferplus_*)
    train_data=(--format ferplus --data "$data/ferplus" --split train --val "$data/ferplus" --val-split valid)
    test_data=(--format ferplus --data "$data/ferplus" --split test) ;;
  *) echo "recipe name must start with fer2013_ or ferplus_: $recipe" >&2; exit 2 ;;
esac
start=$(date +%s)
"$fer" train --config "$config" "${train_data[@]}" --threads "$threads" --no-progress --out "$out"
echo "training wall time this invocation: $(( $(date +%s) - start )) s on $(nproc) cores, THREADS=$threads"
for tta in none flip tencrop; do
  "$fer" eval --model "$out/best.fermodel" "${test_data[@]}" --tta "$tta" --precision bf16 --threads "$threads" \
    --json --confusion-png "$out/confusion_test_$tta.png" | tee "$out/test_$tta.json"
done
