#!/usr/bin/env bash
# Sets up (or reuses) the Debian 13 chroot with the reference Python stack:
# Pillow + numpy + onnxruntime from Debian's own packages. Sourced by run.sh;
# can also be run alone: scripts/parity/chroot.sh [DIR]
set -euo pipefail

# The mirror of this machine's Debian sources (deb822 *.sources or sources.list).
parity_mirror() {
  local uri=""
  if compgen -G "/etc/apt/sources.list.d/*.sources" >/dev/null; then
    uri=$(awk 'tolower($1)=="uris:" {for (i=2;i<=NF;i++) print $i}' /etc/apt/sources.list.d/*.sources \
          | grep -v -- '-security' | grep -v '^cdrom:' | head -n1 || true)
  fi
  if [[ -z "$uri" && -f /etc/apt/sources.list ]]; then
    uri=$(awk '$1=="deb" {for (i=2;i<=NF;i++) if ($i ~ /^[a-z]+:\/\//) {print $i; break}}' /etc/apt/sources.list \
          | grep -v -- '-security' | head -n1 || true)
  fi
  if [[ -z "$uri" ]]; then
    echo "parity: no Debian mirror found in /etc/apt/sources.list.d/*.sources or /etc/apt/sources.list" >&2
    return 1
  fi
  echo "${uri%/}"
}

# parity_chroot DIR: make DIR a trixie chroot with python3-onnxruntime, python3-pil, python3-numpy.
# A marker file records a finished setup, so an interrupted one is redone.
parity_chroot() {
  local dir=$1 marker="$1/.doppel-parity-ready"
  if [[ -f "$marker" ]]; then
    echo "parity: reusing chroot $dir ($(cat "$marker"))" >&2
    return 0
  fi
  local mirror; mirror=$(parity_mirror)
  if ! command -v debootstrap >/dev/null; then
    echo "parity: installing debootstrap" >&2
    apt-get install -y debootstrap >&2 || { apt-get update >&2 && apt-get install -y debootstrap >&2; }
  fi
  echo "parity: debootstrap trixie into $dir from $mirror (~2 min)" >&2
  rm -rf "$dir"
  mkdir -p "$(dirname "$dir")"
  debootstrap --variant=minbase trixie "$dir" "$mirror" >&2
  echo "parity: installing python3-onnxruntime python3-pil python3-numpy in the chroot (~1 min)" >&2
  chroot "$dir" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
    python3-onnxruntime python3-pil python3-numpy >&2
  chroot "$dir" apt-get clean
  local versions
  versions=$(chroot "$dir" dpkg-query -W -f='${Package}=${Version} ' \
               python3-onnxruntime python3-pil python3-numpy libjpeg62-turbo python3)
  echo "$versions" > "$marker"
  echo "parity: chroot ready: $versions" >&2
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  [[ $(id -u) == 0 ]] || { echo "parity: run as root (debootstrap, chroot)" >&2; exit 1; }
  parity_chroot "${1:-/var/cache/doppel-parity/trixie}"
fi
