#!/usr/bin/env bash
# Sets up everything doppel needs on a fresh Debian 12 machine, as root. Idempotent: a re-run installs and
# downloads nothing it already has.
#
#   bash scripts/bootstrap.sh
#
# 1. Debian 12 packages (compiler, CMake, FAISS, hnswlib, libvips, libonnx, ..., sample photos; djpeg, dwebp and
#    heif-enc, which the tests use as reference decoders and encoder).
# 2. ONNX Runtime, which Debian 12 does not package, into third_party/onnxruntime (git-ignored):
#    - the shared library from the npm package onnxruntime-node (npm pack only: its install script is never run);
#    - the C/C++ API headers from Debian 13's libonnxruntime-dev, fetched with apt-get download through a private
#      sources list and private state folders (Debian 13 is never added to this machine's sources).
# 3. The Keras models of the npm package nsfwjs (scripts/fetch-nsfwjs.sh), from which doppel builds its pretrained
#    built-in models, into third_party/nsfwjs (git-ignored).
# 4. The browser test's Node package (playwright-core, pinned by tests/web/package-lock.json; `npm ci
#    --ignore-scripts`: nothing is downloaded but the package) into tests/web/node_modules (git-ignored). The browser
#    itself is Debian's chromium (step 1).
set -euo pipefail

ORT_NPM_VERSION=1.30.0
ORT_NPM_SHA256=6e3390d6b783e7be946fad629292799da28d0b42f84856e50d2c1b0383291e75
ORT_DEB_VERSION=1.21.0+dfsg-1
ORT_DEB_SHA256=14f7d959d5deacbcf1504830d4189f91fc67382b399ed9ae9d3aa9c4050ced08

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tp=$root/third_party
ort=$tp/onnxruntime
export DEBIAN_FRONTEND=noninteractive

[ "$(id -u)" = 0 ] || { echo "bootstrap: run as root (it installs Debian packages)" >&2; exit 2; }

log() { printf 'bootstrap: %s\n' "$*" >&2; }

# --- 1. Debian packages ------------------------------------------------------------------------------------
packages=(
  build-essential cmake pkg-config git ca-certificates xz-utils
  libfaiss-dev libopenblas0-pthread libhnswlib-dev libsqlite3-dev libssl-dev
  libvips-dev libjpeg62-turbo-dev libexif-dev libjpeg-turbo-progs webp libheif-examples
  libonnx-dev libprotobuf-dev protobuf-compiler
  libcli11-dev nlohmann-json3-dev libspdlog-dev libfmt-dev libcpp-httplib-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libhdf5-dev
  opencv-doc
  chromium fonts-dejavu-core
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# npm (and Node.js) fetch ONNX Runtime and the nsfwjs models and run the browser test; a machine with Node.js from
# elsewhere may have them.
if ! command -v npm >/dev/null || ! command -v node >/dev/null; then missing+=(npm); fi
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  log "Debian packages: all present"
fi

# --- 2. ONNX Runtime ----------------------------------------------------------------------------------------
mkdir -p "$ort/lib" "$ort/include" "$tp/downloads"

if [ ! -f "$ort/lib/libonnxruntime.so.1" ] || [ "$(cat "$ort/lib/VERSION" 2>/dev/null)" != "$ORT_NPM_VERSION" ]; then
  tgz=$tp/downloads/onnxruntime-node-$ORT_NPM_VERSION.tgz
  if [ ! -s "$tgz" ]; then
    log "fetching onnxruntime-node@$ORT_NPM_VERSION with npm pack (no install scripts)"
    tmp=$(mktemp -d)
    (cd "$tmp" && npm pack --silent --ignore-scripts "onnxruntime-node@$ORT_NPM_VERSION" >/dev/null)
    mv "$tmp"/onnxruntime-node-*.tgz "$tgz"
    rm -rf "$tmp"
  fi
  echo "$ORT_NPM_SHA256  $tgz" | sha256sum -c --quiet - || { log "checksum mismatch: $tgz"; rm -f "$tgz"; exit 1; }
  tar -xzf "$tgz" -C "$tp/downloads" package/bin/napi-v6/linux/x64/libonnxruntime.so.1
  mv "$tp/downloads/package/bin/napi-v6/linux/x64/libonnxruntime.so.1" "$ort/lib/libonnxruntime.so.1"
  rm -rf "$tp/downloads/package" "$tgz"   # 113 MB; the library is all we keep
  ln -sf libonnxruntime.so.1 "$ort/lib/libonnxruntime.so"
  echo "$ORT_NPM_VERSION" > "$ort/lib/VERSION"
  log "ONNX Runtime library $ORT_NPM_VERSION in $ort/lib"
else
  log "ONNX Runtime library $ORT_NPM_VERSION: present"
fi

if [ ! -f "$ort/include/onnxruntime_cxx_api.h" ] || [ "$(cat "$ort/include/VERSION" 2>/dev/null)" != "$ORT_DEB_VERSION" ]; then
  apt_dir=$tp/downloads/apt-trixie
  mkdir -p "$apt_dir/lists/partial" "$apt_dir/archives/partial"
  # The same mirror as this machine's Debian sources (deb822 or one-line format), not the security one.
  mirror=$( { awk '/^URIs:/ {print $2}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true
              awk '/^deb / {print $2}' /etc/apt/sources.list 2>/dev/null || true; } | grep -E '/debian/?$' | sed -n 1p)
  [ -n "$mirror" ] || { log "no Debian mirror found in this machine's apt sources"; exit 1; }
  echo "deb ${mirror%/} trixie main" > "$apt_dir/sources.list"
  aptopts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
           -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache::Archives=$apt_dir/archives"
           -o Dir::State::Status=/dev/null -o APT::Sandbox::User=root)
  deb=$(ls "$apt_dir"/libonnxruntime-dev_*.deb 2>/dev/null | head -1 || true)
  if [ -z "$deb" ]; then
    log "fetching Debian 13 libonnxruntime-dev=$ORT_DEB_VERSION headers (private apt lists)"
    apt-get -q "${aptopts[@]}" update >/dev/null
    (cd "$apt_dir" && apt-get -q "${aptopts[@]}" download "libonnxruntime-dev=$ORT_DEB_VERSION" >/dev/null)
    deb=$(ls "$apt_dir"/libonnxruntime-dev_*.deb | head -1)
  fi
  echo "$ORT_DEB_SHA256  $deb" | sha256sum -c --quiet - || { log "checksum mismatch: $deb"; rm -f "$deb"; exit 1; }
  x=$(mktemp -d)
  dpkg-deb -x "$deb" "$x"
  cp "$x"/usr/include/onnxruntime/*.h "$ort/include/"
  rm -rf "$x"
  echo "$ORT_DEB_VERSION" > "$ort/include/VERSION"
  log "ONNX Runtime headers $ORT_DEB_VERSION in $ort/include"
else
  log "ONNX Runtime headers $ORT_DEB_VERSION: present"
fi
# --- 3. The built-in pretrained models' weights (npm package nsfwjs, MIT) ---------------------------------------
bash "$root/scripts/fetch-nsfwjs.sh" "$tp/nsfwjs"

# --- 4. The browser test's Node package ------------------------------------------------------------------------
web=$root/tests/web
want=$(node -e 'console.log(require(process.argv[1]).packages["node_modules/playwright-core"].version)' \
  "$web/package-lock.json")
have=$(node -e 'try { console.log(require(process.argv[1]).version) } catch (e) {}' \
  "$web/node_modules/playwright-core/package.json")
if [ "$have" != "$want" ]; then
  log "installing playwright-core@$want for the browser test (npm ci --ignore-scripts)"
  (cd "$web" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
else
  log "playwright-core $want: present"
fi
log "done"
