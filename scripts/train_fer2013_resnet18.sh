#!/usr/bin/env bash
# Trains the FER-2013 teacher candidate: ResNet-18 at half width (2.8 M
# parameters) on the restored FER-2013 train images (see README, "Data"),
# selects on val, then evaluates the best epoch once on test.
#   scripts/train_fer2013_resnet18.sh [DATA_DIR (/tmp/ferdata)] [OUT_DIR (runs/fer2013_resnet18_w05)]
# Resumable: rerun the same command after an interruption (Ctrl-C keeps the
# last complete epoch).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
data="${1:-/tmp/ferdata}"
out="${2:-$root/runs/fer2013_resnet18_w05}"
fer="$root/build/examples/fer"
"$root/scripts/prepare_fer2013.sh" "$data"
"$fer" train --data "$data/fer2013_train_restored" --val "$data/fer2013/val" \
  --arch resnet18 --arch-opt width=0.5 --head-opt dropout=0.2 --epochs 40 --batch 64 --lr 0.05 \
  --label-smoothing 0.1 --precision bf16 --threads 1 --no-progress --out "$out"
for tta in none flip; do
  "$fer" eval --model "$out/best.fermodel" --data "$data/fer2013/test" --tta "$tta" --precision bf16 \
    --confusion-png "$out/confusion_test_$tta.png"
done
