#!/usr/bin/env bash
# Runs the speed benchmarks behind the README's figures, on this machine, into
# OUT_DIR (default runs/bench): tables (*.txt), JSON (*.json) and the
# cost-growth plot (cost_growth.png, cost_growth.md). Run it on an otherwise
# idle machine: it warns when the load average says other work is running.
# About 30 minutes on the 2-core machine of the README.
#   scripts/bench_all.sh [OUT_DIR]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$root/runs/bench}"
b="$root/build/benchmarks"
py=/usr/bin/python3
mkdir -p "$out"
[[ -x "$b/recognizer_bench" ]] || { echo "build first: scripts/build.sh" >&2; exit 2; }
load=$(cut -d' ' -f1 /proc/loadavg)
if awk -v l="$load" 'BEGIN { exit !(l >= 0.5) }'; then
  echo "warning: load average $load: other work is running; the figures will be pessimistic" >&2
fi
echo "== recognizers (shipped models and architectures; batch 1/8/32, fp32/bf16/int8, 1/2 threads)"
"$b/recognizer_bench" --archs small_cnn,mini_xception,mobile_fer,acnn,vit_asf,resnet18 --precisions fp32,bf16,int8 \
  --json "$out/recognizer.json" | tee "$out/recognizer.txt"
echo "== recognizers by input size (batch 1, 1 thread)"
"$b/recognizer_bench" --models none --archs small_cnn,mobile_fer,resnet18 --batches 1 --threads 1 \
  --input-sizes 48,64,96,112 --no-peaks --json "$out/recognizer_sizes.json" | tee "$out/recognizer_sizes.txt"
echo "== PyTorch eager on the same models and weights"
"$py" "$root/benchmarks/pytorch_eager/compare.py" --json "$out/pytorch.json" --libfer-json "$out/recognizer.json" \
  | tee "$out/pytorch.txt"
echo "== detectors (fp32/bf16/int8; sample photos, and frames of 320x240 to 1920x1080)"
"$b/detector_bench" --threads 1,2 --precisions fp32,bf16,int8 --frame-sizes 320x240,640x480,1280x720,1920x1080 \
  --json "$out/detector.json" | tee "$out/detector.txt"
echo "== full pipeline on the sample photos (detectors x auto/int8/bf16/fp32 x 1/2 threads)"
"$b/pipeline_bench" --json "$out/pipeline.json" | tee "$out/pipeline.txt"
echo "== streams (640x480, 1/4/8 faces, 1/2 threads)"
streams=()
for d in ssd_mobilenet tiny_face haar; do
  "$b/stream_fps" --detector "$d" --json "$out/stream_$d.json" | tee "$out/stream_$d.txt"
  streams+=(--stream "$out/stream_$d.json")
done
echo "== cost growth"
"$py" "$root/benchmarks/plot_costs.py" --recognizer "$out/recognizer.json" --recognizer "$out/recognizer_sizes.json" \
  --detector "$out/detector.json" "${streams[@]}" --models default.fermodel,fer2013_resnet18_w05.fermodel,small_cnn,mobile_fer,resnet18 \
  --out "$out/cost_growth.png" | tee "$out/cost_growth.md"
echo "results in $out"
