#!/usr/bin/env bash
# The main job: installs what it needs, builds xfer in release mode and runs
# xfer-load. With no arguments it load-tests its own built-in server on
# 127.0.0.1; any arguments go to xfer-load (see docs/xfer-load.md).
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/deps.sh
xfer_install_deps
mkdir -p build
# The build speaks only when it fails: the report is the point of this job.
if ! { cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DXFER_BUILD_TESTS=OFF &&
       cmake --build build/release -j"$(nproc)" --target xfer-load; } >build/load-build.log 2>&1; then
  cat build/load-build.log >&2
  exit 1
fi
exec build/release/tools/xfer-load "$@"
