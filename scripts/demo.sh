#!/usr/bin/env bash
# The demo, on the bundled sample photos (Debian's opencv-doc examples). Run after bootstrap and build.
# Until the built-in pretrained models and the store land, it embeds the photos with a ResNet50 of RANDOM weights
# (generated here, for speed measurement only: its vectors mean nothing) and prints a few of them.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=$root/build/bin
out=${DOPPEL_DEMO_DIR:-$root/out/demo}
mkdir -p "$out"
samples=/usr/share/doc/opencv-doc/examples/data
model=$out/resnet50-keras-nhwc-random-seed1.onnx
[ -f "$model" ] || "$bin/doppel-modelgen" --arch resnet50 --form keras-nhwc --out "$model" >/dev/null
"$bin/doppel" model inspect "$model"
echo
echo "Embedding 8 sample photos (RANDOM weights: a speed and plumbing demo, not a similarity demo):"
mapfile -t photos < <(ls "$samples"/*.jpg | head -8)
"$bin/doppel" embed --model "$model" --preset keras-caffe "${photos[@]}" | cut -c1-150
