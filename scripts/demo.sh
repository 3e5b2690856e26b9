#!/usr/bin/env bash
# The demo: `doppel demo` builds the built-in pretrained models (from the nsfwjs package bootstrap fetched), indexes
# the bundled sample photos (Debian's opencv-doc examples) into ./doppel-data and prints both models' results side
# by side. Run after scripts/bootstrap.sh and scripts/build.sh. Extra arguments go to `doppel demo`.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
exec "$root/build/bin/doppel" demo "$@"
