#!/usr/bin/env bash
# The whole test suite, as a new user (and CI) runs it: installs what it
# needs, then builds and runs every suite three times over:
#   build/test-normal  the plain build, every net and fault suite on every backend;
#   build/test-asan    ASan + UBSan, the same suites;
#   build/test-tsan    TSan, the suites that exercise cross-thread code, and
#                      the fuzz corpora's replay (every build replays them);
#   build/fuzz         libFuzzer (clang), each fuzz harness for 60 s.
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/deps.sh
xfer_install_deps

jobs=$(nproc)
werror=OFF
[ -n "${CI:-}" ] && werror=ON

configure_and_build() {
  local dir=$1; shift
  cmake -S . -B "$dir" -DXFER_WERROR=$werror "$@" >/dev/null
  cmake --build "$dir" -j"$jobs"
}

status=0
run() {
  local dir=$1; shift
  echo "== ctest in $dir" >&2
  (cd "$dir" && ctest --output-on-failure -j"$jobs" "$@") || status=1
}

configure_and_build build/test-normal -DCMAKE_BUILD_TYPE=RelWithDebInfo
run build/test-normal

configure_and_build build/test-asan -DCMAKE_BUILD_TYPE=Debug "-DXFER_SANITIZE=address;undefined"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  run build/test-asan

# halt_on_error: without it a race inside a Criterion test still exits 0.
configure_and_build build/test-tsan -DCMAKE_BUILD_TYPE=Debug -DXFER_SANITIZE=thread
TSAN_OPTIONS=halt_on_error=1 run build/test-tsan -R 'wakeup|dns|threads|event|load_tool|^fuzz\.'

# libFuzzer on every harness of tests/fuzz/, 60 s each, two at a time.
tools/fuzz.sh 60 || status=1

exit $status
