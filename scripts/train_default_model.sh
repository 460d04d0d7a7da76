#!/usr/bin/env bash
# Reproduces the shipped default model (models/default.fermodel) from
# ../shared/data: unpacks FER-2013 and FERPlus, restores the sharp training
# images (see README), trains small_cnn, and evaluates it once on test/.
#   scripts/train_default_model.sh [DATA_DIR (/tmp/ferdata)] [OUT_DIR (runs/fer2013_small_cnn)]
# Resumable: rerun the same command after an interruption.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
data="${1:-/tmp/ferdata}"
out="${2:-$root/runs/fer2013_small_cnn}"
fer="$root/build/examples/fer"
"$root/scripts/prepare_fer2013.sh" "$data"
"$fer" train --data "$data/fer2013_train_restored" --val "$data/fer2013/val" \
  --arch small_cnn --arch-opt pool=grid --head-opt dropout=0.3 --epochs 25 --batch 64 --lr 0.02 \
  --label-smoothing 0.1 --precision bf16 --out "$out"
for tta in none flip; do
  "$fer" eval --model "$out/best.fermodel" --data "$data/fer2013/test" --tta "$tta" --precision bf16 \
    --confusion-png "$out/confusion_test_$tta.png"
done
