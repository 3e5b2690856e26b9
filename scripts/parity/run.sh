#!/usr/bin/env bash
# Embedding parity check: doppel's vectors vs the reference Python stack (Pillow + numpy + onnxruntime from
# Debian 13) on the same ONNX models and images. Not part of CI: it needs root, network access to the Debian
# mirror of this machine's apt sources (first run only) and a few minutes. See docs/PARITY.md.
#
#   sudo scripts/parity/run.sh [--bin DIR] [--modelgen FILE] [--chroot DIR] [--work DIR] [--images DIR]
#                              [--presets "P ..."] [--strict-tensors] [--keep-tensors]
#
#   --bin DIR         folder with doppel and doppel-modelgen (default: build/bin, else build-parity/bin).
#                     Nothing is built here: cmake --build BUILD --target doppel_cli doppel_modelgen_cli
#   --modelgen FILE   doppel-modelgen, when it is not in the --bin folder
#   --chroot DIR      the cached Debian 13 chroot (default /var/cache/doppel-parity/trixie); made on first use
#   --work DIR        models, images, outputs (default out/parity in the repo, git-ignored); mounted in the
#                     chroot at /parity
#   --images DIR      where the candidate photos come from (default /usr/share/doc/opencv-doc/examples/data)
#   --presets "..."   subset of: keras-caffe keras-tf torch-imagenet clip (default all four)
#   --strict-tensors  also fail when a preprocessed input tensor is not bit-identical to the reference
#   --keep-tensors    keep doppel's dumped input tensors (JSON, ~3 MB per image and preset)
#
# Exit status: 0 if every preset has cosine >= 0.9999 on every image (and, with --strict-tensors, identical input
# tensors), 1 if a check failed, 2 on a setup error.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=scripts/parity/chroot.sh
source "$here/chroot.sh"

bin="" modelgen="" chroot_dir=/var/cache/doppel-parity/trixie work="$repo/out/parity"
src=/usr/share/doc/opencv-doc/examples/data presets="keras-caffe keras-tf torch-imagenet clip"
strict="" keep=""
while [[ $# -gt 0 ]]; do
  case $1 in
    --bin) bin=$2; shift 2 ;;
    --modelgen) modelgen=$2; shift 2 ;;
    --chroot) chroot_dir=$2; shift 2 ;;
    --work) work=$2; shift 2 ;;
    --images) src=$2; shift 2 ;;
    --presets) presets=$2; shift 2 ;;
    --strict-tensors) strict=--strict-tensors; shift ;;
    --keep-tensors) keep=1; shift ;;
    -h|--help) sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "parity: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

die() { echo "parity: $*" >&2; exit 2; }
[[ $(id -u) == 0 ]] || die "run as root (debootstrap, chroot, mount)"
if [[ -z "$bin" ]]; then
  for d in "$repo/build/bin" "$repo/build-parity/bin"; do
    if [[ -x "$d/doppel" && ( -n "$modelgen" || -x "$d/doppel-modelgen" ) ]]; then bin=$d; break; fi
  done
  [[ -n "$bin" ]] || die "no doppel + doppel-modelgen in build/bin or build-parity/bin; build them
  (cmake --build build --target doppel_cli doppel_modelgen_cli) or pass --bin DIR [--modelgen FILE]"
fi
bin=$(cd "$bin" && pwd)
[[ -x "$bin/doppel" ]] || die "$bin/doppel not found (pass --bin DIR)"
modelgen=${modelgen:-$bin/doppel-modelgen}
[[ -x "$modelgen" ]] || die "$modelgen not found (pass --modelgen FILE)"
[[ -d "$src" ]] || die "no image folder $src (apt-get install opencv-doc, or pass --images DIR)"

t0=$SECONDS
step() { echo "parity: [$((SECONDS - t0))s] $*" >&2; }

parity_chroot "$chroot_dir"
mkdir -p "$work" "$chroot_dir/parity"
work=$(cd "$work" && pwd)

# Runs a command in the chroot with /proc (onnxruntime needs it) and the work folder at /parity, in a private
# mount namespace so nothing stays mounted. onnxruntime's import prints ~1000 harmless "Schema error" lines.
in_chroot() {
  unshare --mount --propagation private -- bash -c '
    set -e; c=$1; w=$2; shift 2
    mount -t proc proc "$c/proc"
    mount --bind "$w" "$c/parity"
    exec chroot "$c" env LC_ALL=C.UTF-8 PYTHONDONTWRITEBYTECODE=1 "$@"' _ "$chroot_dir" "$work" "$@" \
    2> >(grep -v -E '^(Schema error|[[:space:]]*$)' >&2 || true)
}

# Fresh outputs; models are kept while doppel-modelgen is not newer.
rm -rf "$work/candidates" "$work/images" "$work/results" "$work/dump"
rm -f "$work"/*.jsonl "$work"/*.npy
mkdir -p "$work/candidates" "$work/models" "$work/results"
cp "$here/reference.py" "$work/reference.py"
ver_doppel=$(cd "$repo" && git rev-parse --short HEAD 2>/dev/null || echo unknown)
step "doppel $bin/doppel (sha256 $(sha256sum "$bin/doppel" | cut -c1-12), $("$bin/doppel" --version 2>&1 | head -n1));" \
  "repo HEAD $ver_doppel; chroot $(cat "$chroot_dir/.doppel-parity-ready")"

declare -A model_file model_output
for form in keras-nhwc zoo-nchw; do
  f="$work/models/resnet50-$form.onnx"
  if [[ ! -s "$f" || "$modelgen" -nt "$f" ]]; then
    step "doppel-modelgen --arch resnet50 --form $form"
    "$modelgen" --arch resnet50 --form "$form" --out "$f" > "$f.json"
  fi
  model_file[$form]=$f
  model_output[$form]=$(sed -n 's/^ *"output": "\(.*\)",\{0,1\}$/\1/p' "$f.json")
  [[ -n "${model_output[$form]}" ]] || die "no output name in $f.json"
done

step "selecting and making test images"
find "$src" -maxdepth 1 -type f \( -iname '*.jpg' -o -iname '*.jpeg' -o -iname '*.png' \) -exec cp -t "$work/candidates" {} +
in_chroot python3 /parity/reference.py prepare --candidates /parity/candidates --out /parity/images \
  --list /parity/images.txt
mapfile -t names < "$work/images.txt"
images=()
for n in "${names[@]}"; do images+=("$work/images/$n"); done
for layout in nhwc nchw; do
  in_chroot python3 /parity/reference.py identity-model --layout "$layout" --out "/parity/models/identity-$layout.onnx"
done

results=()
for preset in $presets; do
  case $preset in
    keras-caffe|keras-tf) form=keras-nhwc layout=nhwc ;;
    torch-imagenet|clip) form=zoo-nchw layout=nchw ;;
    *) die "unknown preset $preset" ;;
  esac
  m=${model_file[$form]} out=${model_output[$form]} rel="models/$(basename "${model_file[$form]}")"
  step "$preset: doppel embed (${#images[@]} images, $(basename "$m"), output $out)"
  "$bin/doppel" embed --model "$m" --preset "$preset" --output "$out" "${images[@]}" \
    > "$work/$preset.doppel.jsonl" || echo "parity: doppel embed exited $? (errors are in the JSON lines)" >&2
  step "$preset: doppel input tensors (identity model)"
  "$bin/doppel" embed --model "$work/models/identity-$layout.onnx" --preset "$preset" --no-normalize \
    "${images[@]}" > "$work/$preset.doppel-tensor.jsonl" || echo "parity: doppel embed (tensors) exited $?" >&2
  step "$preset: reference (Pillow + numpy + onnxruntime)"
  in_chroot python3 /parity/reference.py embed --model "/parity/$rel" --preset "$preset" --output "$out" \
    --images /parity/images --list /parity/images.txt --out "/parity/$preset.ref.jsonl" \
    --tensors "/parity/$preset.ref-tensor.npy"
  step "$preset: compare"
  in_chroot python3 /parity/reference.py compare --kind vector --preset "$preset" --list /parity/images.txt \
    --doppel "/parity/$preset.doppel.jsonl" --ref "/parity/$preset.ref.jsonl" \
    --out "/parity/results/$preset.vector.json"
  in_chroot python3 /parity/reference.py compare --kind tensor --preset "$preset" --list /parity/images.txt \
    --doppel "/parity/$preset.doppel-tensor.jsonl" --ref "/parity/$preset.ref-tensor.npy" \
    --out "/parity/results/$preset.tensor.json" --dump /parity/dump $strict
  [[ -n "$keep" ]] || rm -f "$work/$preset.doppel-tensor.jsonl"
  results+=("/parity/results/$preset.vector.json" "/parity/results/$preset.tensor.json")
done

step "done; results in $work/results, table in $work/summary.md"
set +e
in_chroot python3 /parity/reference.py report "${results[@]}" > "$work/summary.md"
rc=$?
set -e
cat "$work/summary.md"
if [[ $rc == 0 ]]; then echo "parity: PASS (every cosine >= 0.9999)"; else echo "parity: FAIL"; fi
exit $((rc == 0 ? 0 : 1))
