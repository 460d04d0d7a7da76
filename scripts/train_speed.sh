#!/usr/bin/env bash
# Measures training throughput (images/s) per architecture in fp32 and bf16 on
# FER-2013 train: a short run of STEPS batches of 64 per setting.
#   scripts/train_speed.sh [FER2013_TRAIN_DIR] [STEPS] [ARCH...]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
data="${1:-/tmp/ferdata/fer2013/train}"
steps="${2:-30}"
shift 2 2>/dev/null || true
archs=("$@")
[ ${#archs[@]} -gt 0 ] || archs=(small_cnn mobile_fer vit_asf resnet18)
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
printf "%-14s %10s %10s\n" arch "fp32 img/s" "bf16 img/s"
for arch in "${archs[@]}"; do
  row=()
  for precision in fp32 bf16; do
    rate=$("$root/build/examples/fer" train --data "$data" --arch "$arch" --epochs 1 --max-steps "$steps" \
      --batch 64 --precision "$precision" --out "$out/$arch-$precision" --cache "$out/cache" --no-resume \
      --no-progress 2>&1 | sed -n 's/.* \([0-9]*\) img\/s.*/\1/p' | tail -1)
    row+=("$rate")
  done
  printf "%-14s %10s %10s\n" "$arch" "${row[0]}" "${row[1]}"
done
