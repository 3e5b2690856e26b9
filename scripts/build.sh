#!/usr/bin/env bash
# Configures and builds doppel into build/ (Release, -march=native). Run scripts/bootstrap.sh once first.
#   bash scripts/build.sh [extra cmake -D options]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
jobs=${DOPPEL_JOBS:-$(nproc)}
cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=Release "$@"
cmake --build "$root/build" -j "$jobs"
