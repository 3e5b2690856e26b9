#!/usr/bin/env bash
# Fetches the Keras models of the npm package nsfwjs (MIT; pinned version and checksum below) and turns them into
# standard TensorFlow.js layers-model folders that `doppel model import keras` reads. Idempotent: a re-run with the
# models in place downloads nothing.
#
#   bash scripts/fetch-nsfwjs.sh [DEST]        (DEST defaults to third_party/nsfwjs, which git ignores)
#
# Result:
#   DEST/mobilenet_v2/{model.json, group1-shard1of1.bin}
#   DEST/inception_v3/{model.json, group1-shard1of6.bin ... group1-shard6of6.bin}
#   DEST/LICENSE (the package's MIT licence), DEST/VERSION ("4.4.0"; written last, so its presence means complete)
#
# The package is fetched with `npm pack --ignore-scripts` (a tarball download; nothing is installed, no package
# script runs) and its sha256 is checked. Needs npm and node.
set -euo pipefail

NSFWJS_VERSION=4.4.0
NSFWJS_SHA256=585cd178f3b994337c4d10a87b080d342fc52f8b9bf0085c4d1f345a3a1c5382
MODELS=(mobilenet_v2 inception_v3)

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dest=${1:-$root/third_party/nsfwjs}
log() { printf 'fetch-nsfwjs: %s\n' "$*" >&2; }

complete=1
[ "$(cat "$dest/VERSION" 2>/dev/null)" = "$NSFWJS_VERSION" ] || complete=0
for m in "${MODELS[@]}"; do [ -f "$dest/$m/model.json" ] || complete=0; done
if [ $complete = 1 ]; then
  log "nsfwjs $NSFWJS_VERSION models: present in $dest"
  exit 0
fi

command -v npm >/dev/null || { log "npm is needed (apt-get install npm)"; exit 1; }
command -v node >/dev/null || { log "node is needed (apt-get install nodejs)"; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
log "fetching nsfwjs@$NSFWJS_VERSION with npm pack (no install scripts)"
(cd "$tmp" && npm pack --silent --ignore-scripts "nsfwjs@$NSFWJS_VERSION" >/dev/null)
tgz=$tmp/nsfwjs-$NSFWJS_VERSION.tgz
[ -f "$tgz" ] || { log "npm pack did not produce $tgz"; exit 1; }
echo "$NSFWJS_SHA256  $tgz" | sha256sum -c --quiet - || { log "checksum mismatch: nsfwjs-$NSFWJS_VERSION.tgz"; exit 1; }

members=(package/LICENSE)
for m in "${MODELS[@]}"; do members+=("package/dist/models/$m"); done
tar -xzf "$tgz" -C "$tmp" "${members[@]}"

mkdir -p "$dest"
rm -f "$dest/VERSION"
for m in "${MODELS[@]}"; do
  node "$root/scripts/nsfwjs-to-layers-model.js" "$tmp/package/dist/models/$m" "$dest/$m"
done
cp "$tmp/package/LICENSE" "$dest/LICENSE"
echo "$NSFWJS_VERSION" > "$dest/VERSION"
log "nsfwjs $NSFWJS_VERSION models in $dest: ${MODELS[*]}"
