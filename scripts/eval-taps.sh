#!/usr/bin/env bash
# Chooses the built-in models' tap, pooling and input scaling by measurement: imports variants of the nsfwjs
# models with `doppel model import keras` and evaluates them with `doppel eval` on a labelled folder (default:
# Debian's openclipart-png, one subfolder per category; `apt-get install openclipart-png`), next to the
# colour-histogram baseline. Prints a Markdown table (recorded in BENCHMARKS.md).
#   bash scripts/eval-taps.sh [LABELLED_DIR] [MAX_PER_CLASS]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=${DOPPEL_BIN:-$root/build/bin}
dir=${1:-/usr/share/openclipart/png}
per=${2:-40}
nsfw=${DOPPEL_NSFWJS_DIR:-$root/third_party/nsfwjs}
out=$root/out/eval-taps
mkdir -p "$out"
variants=(
  # name                              model         tap                        pool extra import flags
  "mnv2_b10dw_gem_x255               mobilenet_v2  block_10_depthwise_relu    gem"
  "mnv2_b10dw_max_x255               mobilenet_v2  block_10_depthwise_relu    max"
  "mnv2_b10dw_avg_x255               mobilenet_v2  block_10_depthwise_relu    avg"
  "mnv2_b10dw_gem_tf                 mobilenet_v2  block_10_depthwise_relu    gem  --scale 0.00784313725 --mean 1 1 1"
  "mnv2_b10exp_gem_x255              mobilenet_v2  block_10_expand_relu       gem"
  "mnv2_b10proj_gem_x255             mobilenet_v2  block_10_project_BN        gem"
  "mnv2_b8add_gem_x255               mobilenet_v2  block_8_add                gem"
  "mnv2_b6exp_gem_x255               mobilenet_v2  block_6_expand_relu        gem"
  "mnv2_outrelu_avg_x255             mobilenet_v2  out_relu                   avg"
  "incv3_mixed5_max_x255             inception_v3  mixed5                     max"
  "incv3_mixed5_avg_x255             inception_v3  mixed5                     avg"
)
args=()
for v in "${variants[@]}"; do
  read -r name model tap pool extra <<<"$v"
  size=224; [ "$model" = inception_v3 ] && size=299
  f=$out/$name.onnx
  # shellcheck disable=SC2086
  "$bin/doppel" model import keras "$nsfw/$model" --out "$f" --tap "$tap" --pool "$pool" --input-size $size $extra >/dev/null
  args+=(--onnx "$f")
done
"$bin/doppel" eval "$dir" --max-per-class "$per" --histogram "${args[@]}"
