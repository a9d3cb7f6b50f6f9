#!/usr/bin/env bash
# Installs the Debian 12 packages the build, the tests and the main job need,
# only those that are missing. Sourced by tools/test.sh and tools/load.sh.
set -euo pipefail

XFER_PACKAGES=(build-essential cmake pkg-config liburing-dev libwolfssl-dev libcriterion-dev
               libbenchmark-dev libcurl4-openssl-dev nginx-light wrk openssl python3
               libssl-dev libuv1-dev strace nghttp2-client clang libclang-rt-14-dev
               clang-format)

xfer_install_deps() {
  local missing=()
  for p in "${XFER_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "xfer: installing ${missing[*]}" >&2
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "xfer: run as root or install sudo" >&2; return 1; }
    sudo="sudo"
  fi
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}
