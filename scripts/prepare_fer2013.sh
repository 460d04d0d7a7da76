#!/usr/bin/env bash
# Unpacks FER-2013 and FERPlus from ../shared/data into DATA_DIR and restores
# the sharp FER-2013 training images (the archive's train/ is blurred; see
# README, "Data"). Does nothing for parts already there.
#   scripts/prepare_fer2013.sh [DATA_DIR (/tmp/ferdata)]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
data="${1:-/tmp/ferdata}"
mkdir -p "$data"
[ -d "$data/fer2013/train" ] || tar -xzf "$root/../shared/data/fer2013.tar.gz" -C "$data"
[ -d "$data/ferplus/FER2013Train" ] || tar -xzf "$root/../shared/data/ferplus.tar.gz" -C "$data"
[ -d "$data/fer2013_train_restored" ] || "$root/build/examples/fer_restore_fer2013" \
  --blurred "$data/fer2013/train" --sharp "$data/ferplus/FER2013Train" --out "$data/fer2013_train_restored"
