# Sourced by the recipe scripts (train_recipe.sh, eval_recipe.sh,
# quantize_recipe.sh): parses RECIPE [DATA_DIR (/tmp/ferdata)] [OUT_DIR
# (runs/RECIPE)] and sets root, recipe, data, out, threads ($THREADS, default
# 1), fer (the CLI: $FER_CLI, default build/examples/fer) and the dataset arguments of the recipe's protocol:
#   fer2013_*  train_data: the restored FER-2013 train images, selection on val/;
#              calib_data: the training images; test_data: test/ (7 classes)
#   ferplus_*  train_data: FER2013Train (votes), selection on FER2013Valid;
#              calib_data: FER2013Train; test_data: FER2013Test (majority vote, 8 classes)
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
recipe="$(basename "${1:?usage: $(basename "$0") RECIPE [DATA_DIR] [OUT_DIR]}" .json)"
# Absolute, because train_recipe.sh works from the repository root.
data="$(realpath -m "${2:-/tmp/ferdata}")"
out="$(realpath -m "${3:-$root/runs/$recipe}")"
threads="${THREADS:-1}"
fer="$(realpath -m "${FER_CLI:-$root/build/examples/fer}")"
[[ -x "$fer" ]] || { echo "build first: scripts/build.sh" >&2; exit 2; }
case "$recipe" in
  fer2013_*)
    train_data=(--data "$data/fer2013_train_restored" --val "$data/fer2013/val")
    calib_data=(--data "$data/fer2013_train_restored")
    test_data=(--data "$data/fer2013/test") ;;
  ferplus_*)
    train_data=(--format ferplus --data "$data/ferplus" --split train --val "$data/ferplus" --val-split valid)
    calib_data=(--format ferplus --data "$data/ferplus" --split train)
    test_data=(--format ferplus --data "$data/ferplus" --split test) ;;
  *) echo "recipe name must start with fer2013_ or ferplus_: $recipe" >&2; exit 2 ;;
esac
