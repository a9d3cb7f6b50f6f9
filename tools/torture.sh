#!/usr/bin/env bash
# Allocation-failure torture, whole: every scenario of tests/net/test_torture.c
# and tests/net/test_alloc_fail.c is run with its 1st, 2nd, ... allocation
# failing until a run completes untouched (XFER_TORTURE=1, see
# tests/support/torture.h), on every backend, and the HTTPS GET of
# tests/net/test_tls_alloc.c (every point, in a plain child process) on every
# backend with each TLS library. Prints one line per scenario with its number
# of allocation points and exits 1 if any run crashed, leaked or gave a
# wrong code.
#
#   tools/torture.sh [BUILD_DIR]
#
# BUILD_DIR is an existing build to use (e.g. a sanitizer build, whose
# findings then fail the run too); without it the script configures and
# builds build/torture (RelWithDebInfo). Extra environment is passed on:
# XFER_TORTURE_STEP / XFER_TORTURE_START share the points out between jobs,
# XFER_TORTURE_TRACE=1 prints the call stack of each refused allocation.
set -euo pipefail
cd "$(dirname "$0")/.."

build=${1:-}
if [ -z "$build" ]; then
  build=build/torture
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$build" -j"$(nproc)" --target net_test_torture net_test_alloc_fail \
    net_test_tls_alloc tls_alloc_probe >/dev/null
fi
tests=$build/tests
[ -x "$tests/net_test_torture" ] || { echo "torture: no $tests/net_test_torture" >&2; exit 2; }

# The backends and TLS libraries the build's own net suites run with.
cache() { sed -n "s/^$1:STRING=//p" "$build/CMakeCache.txt" | tr ';' ' '; }
backends=${XFER_TORTURE_BACKENDS:-$(cache XFER_TEST_BACKENDS)}
tls_libs=${XFER_TORTURE_TLS:-$(cache XFER_TEST_TLS_LIBS)}
export XFER_TORTURE=1
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
start=$(date +%s)

# Runs one test program; its "torture NAME: ..." lines go to the summary,
# everything goes to the log, which is shown when the program fails.
run() {
  local label=$1; shift
  if ! "$@" >"$log.one" 2>&1; then
    echo "FAIL: $label" >&2
    cat "$log.one" >&2
    status=1
  fi
  grep '^torture ' "$log.one" >>"$log" || true
  rm -f "$log.one"
}

for be in $backends; do
  XFER_BACKEND=$be run "torture on $be" "$tests/net_test_torture" --jobs 2
  XFER_BACKEND=$be run "alloc_fail on $be" "$tests/net_test_alloc_fail" --jobs 2
  for lib in $tls_libs; do
    XFER_BACKEND=$be XFER_SSL_BACKEND=$lib run "https on $be with $lib" \
      "$tests/net_test_tls_alloc" --filter 'tls_alloc/every_allocation*' --jobs 1
  done
done

printf '%-34s %12s %8s\n' scenario allocations runs
sed -n 's/^torture \([^:]*\): allocations=\([0-9]*\) points=[0-9]* runs=\([0-9]*\).*/\1 \2 \3/p' "$log" |
  sort | while read -r name allocs runs; do printf '%-34s %12s %8s\n' "$name" "$allocs" "$runs"; done
if grep '^torture ' "$log" | grep -q 'full=0'; then
  echo "torture: a scenario still reached its failing allocation at the last point" >&2
  status=1
fi
echo "torture: $(grep -c '^torture ' "$log") scenario runs in $(( $(date +%s) - start )) s," \
  "$([ $status = 0 ] && echo all clean || echo FAILURES above)"
exit $status
