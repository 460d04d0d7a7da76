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
# A recipe with "teacher-targets": "runs/teacher_targets/NAME.fertargets"
# (offline distillation) gets that file computed first, when it is missing, by
# `fer teacher-targets --config recipes/teacher_targets/NAME.json` (its models
# and views) on the recipe's training data, into teacher_targets/NAME.fertargets
# beside OUT_DIR (runs/teacher_targets/ for the default OUT_DIR), and trains from it.
# They are computed again when the spec or one of its model files has changed
# since (NAME.fertargets.inputs records their SHA-256).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/recipe_args.sh"
config="$root/recipes/$recipe.json"
[[ -f "$config" ]] || { echo "no recipe $config" >&2; exit 2; }
cd "$root"  # recipes name teacher models relative to the repository root
"$root/scripts/prepare_fer2013.sh" "$data"
read -ra extra_args <<< "${TRAIN_ARGS:-}"
targets_name="$(/usr/bin/python3 -c "import json,sys,os; t=json.load(open(sys.argv[1])).get('teacher-targets', '')
print(os.path.basename(t)[:-len('.fertargets')] if t.endswith('.fertargets') else t)" "$config")"
if [[ -n "$targets_name" ]]; then
  targets="$(dirname "$out")/teacher_targets/$targets_name.fertargets"
  spec="$root/recipes/teacher_targets/$targets_name.json"
  [[ -f "$spec" ]] || { echo "recipe $recipe names teacher targets $targets_name, but $spec is missing" >&2; exit 2; }
  # What the targets were computed from: the spec and the bytes of each model it
  # names (the data is checked by fer train against the file's fingerprint).
  inputs="$(/usr/bin/python3 -c "import json,sys,hashlib,os
spec=sys.argv[1]; m=json.load(open(spec)).get('model', [])
for f in [spec] + ([m] if isinstance(m, str) else m):
    try: print(hashlib.sha256(open(f,'rb').read()).hexdigest(), os.path.relpath(f))
    except OSError as e: print('unreadable', f, e.strerror)" "$spec")"
  if [[ -f "$targets" && "$inputs" == *$'\n'unreadable* ]]; then
    echo "warning: a model $spec names cannot be read; training from the teacher targets already in $targets" >&2
    inputs=""
  elif [[ -f "$targets" && "$(cat "$targets.inputs" 2>/dev/null)" != "$inputs" ]]; then
    echo "teacher targets $targets were computed from another spec or other models than $spec names now" \
         "(or their record $targets.inputs is missing): computing them again"
  elif [[ -f "$targets" ]]; then
    inputs=""  # up to date
  fi
  if [[ -n "$inputs" ]]; then
    mkdir -p "$(dirname "$targets")"
    rm -f "$targets.inputs"
    start=$(date +%s)
    "$fer" teacher-targets --config "$spec" "${calib_data[@]}" --threads "$threads" --out "$targets"
    echo "teacher targets wall time: $(( $(date +%s) - start )) s on $(nproc) cores, THREADS=$threads"
    printf '%s\n' "$inputs" > "$targets.inputs"
  fi
  extra_args=(--teacher-targets "$targets" "${extra_args[@]}")
fi
start=$(date +%s)
"$fer" train --config "$config" "${train_data[@]}" --threads "$threads" --no-progress --out "$out" "${extra_args[@]}"
echo "training wall time this invocation: $(( $(date +%s) - start )) s on $(nproc) cores, THREADS=$threads"
"$root/scripts/eval_recipe.sh" "$recipe" "$data" "$out"
