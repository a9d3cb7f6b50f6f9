#!/usr/bin/env bash
# Soak: N keep-alive requests through xfer-load (its built-in server, which
# runs in a child process of its own) on each backend, sampling the client's
# resident memory (VmRSS of /proc/PID/status) and open descriptors
# (/proc/PID/fd) at a fixed interval. Fails when either grows after the
# warm-up, or when a request fails.
#
#   perf/soak.sh [-n REQUESTS] [-c CONNECTIONS] [-b "poll epoll io_uring"]
#                [-i INTERVAL_S] [-w WARMUP_S] [-o DIR] [BUILD_DIR]
#
# Defaults: 1,000,000 requests, 16 connections, every backend, a sample per
# second, 2 s of warm-up. -o keeps each backend's samples ("seconds rss_kib
# fds" per line) and xfer-load report in DIR. BUILD_DIR is a build holding tools/xfer-load;
# without it the script builds build/release (Release) as tools/load.sh does.
# One line per backend: requests, duration, requests/s, RSS (KiB) at the end
# of the warm-up, at the end and at its peak, and descriptors likewise.
set -euo pipefail
cd "$(dirname "$0")/.."

requests=1000000
conns=16
backends="poll epoll io_uring"
interval=1
# Warm-up: the connections are opened and the pool, the receive buffers and
# the latency histogram's pages are touched within the first few thousand
# requests. On io_uring the RSS also rises by about 1 MiB in the first
# second, as much as one resident page in each of the 256 provided receive
# buffers of 16 KiB (256 x 4 KiB), and then stays put; two seconds cover
# that on a loaded two-core machine (measured: settled by 1.6 s).
warmup=2
keep=
while getopts n:c:b:i:w:o: opt; do
  case $opt in
    n) requests=$OPTARG ;;
    c) conns=$OPTARG ;;
    b) backends=$OPTARG ;;
    i) interval=$OPTARG ;;
    w) warmup=$OPTARG ;;
    o) keep=$OPTARG ;;
    *) sed -n '8,11p' "$0" >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))

# Tolerances. Descriptors: none; the tool holds exactly CONNECTIONS
# connections plus fixed internal fds once warm, so any new one is a leak.
# RSS: 1 MiB over the warm-up figure. After the warm-up the client
# allocates nothing per request (tests/net/test_alloc_steady.c proves zero
# calls to the allocator), so what remains is page-granular noise (stack,
# allocator trims, a page of kernel-shared memory counted in or out); a
# leak of even 1 byte per request would add about 1 MiB per million
# requests and shows above it.
rss_tolerance_kb=1024
fd_tolerance=0

build=${1:-}
if [ -z "$build" ]; then
  build=build/release
  mkdir -p build
  if ! { cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DXFER_BUILD_TESTS=OFF &&
         cmake --build "$build" -j"$(nproc)" --target xfer-load; } >build/soak-build.log 2>&1; then
    cat build/soak-build.log >&2
    exit 1
  fi
fi
load=$build/tools/xfer-load
[ -x "$load" ] || { echo "soak: no $load" >&2; exit 2; }

out=$(mktemp -d)
pid=
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$out"
}
trap cleanup EXIT

status=0
printf '%-9s %9s %8s %10s %9s %9s %9s %5s %5s %5s  %s\n' backend requests seconds 'req/s' \
  rss_warm rss_end rss_max fd_w fd_e fd_max verdict
for be in $backends; do
  "$load" -n "$requests" -c "$conns" --backend "$be" --json "$out/$be.json" \
    >"$out/$be.txt" 2>&1 &
  pid=$!
  t0=$(date +%s.%N)
  : >"$out/$be.samples"
  # One line per sample: seconds since start, VmRSS in KiB, descriptors.
  while kill -0 "$pid" 2>/dev/null; do
    rss=$(sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$pid/status" 2>/dev/null || true)
    fds=$(ls "/proc/$pid/fd" 2>/dev/null | wc -l || true)
    now=$(date +%s.%N)
    # A process that has exited has no VmRSS line: the sample is dropped.
    [ -n "$rss" ] && [ "$fds" -gt 0 ] &&
      awk -v a="$now" -v b="$t0" -v r="$rss" -v f="$fds" 'BEGIN { printf "%.3f %s %s\n", a - b, r, f }' \
        >>"$out/$be.samples"
    sleep "$interval"
  done
  rc=0
  wait "$pid" || rc=$?
  pid=
  if [ -n "$keep" ]; then
    mkdir -p "$keep"
    cp "$out/$be.samples" "$out/$be.txt" "$out/$be.json" "$keep/"
  fi
  if [ $rc -ne 0 ]; then
    echo "soak: xfer-load on $be exited with $rc:" >&2
    cat "$out/$be.txt" >&2
    status=1
    continue
  fi
  elapsed=$(sed -n 's/.*"elapsed_s": *\([0-9.e+-]*\).*/\1/p' "$out/$be.json" | head -1)
  done_req=$(sed -n 's/.*"requests": *\([0-9]*\).*/\1/p' "$out/$be.json" | head -1)
  # The verdict: the warm-up figure is the last sample inside the warm-up
  # (or the first sample when the run is shorter); every later sample must
  # stay within the tolerances of it.
  read -r rss_w fd_w rss_e fd_e rss_max fd_max n after < <(awk -v w="$warmup" '
    { t[NR] = $1; r[NR] = $2; f[NR] = $3 }
    END {
      k = 1; for (i = 1; i <= NR; i++) if (t[i] <= w) k = i
      rm = 0; fm = 0; for (i = 1; i <= NR; i++) { if (r[i] > rm) rm = r[i]; if (f[i] > fm) fm = f[i] }
      print r[k], f[k], r[NR], f[NR], rm, fm, NR, NR - k
    }' "$out/$be.samples")
  verdict=flat
  if [ "${after:-0}" -lt 1 ]; then
    verdict="too short: no sample after the warm-up"
    status=1
  else
    grown=$(awk -v w="$warmup" -v r0="$rss_w" -v f0="$fd_w" -v rt=$rss_tolerance_kb \
        -v ft=$fd_tolerance '$1 > w && ($2 > r0 + rt || $3 > f0 + ft) { print $1 "s: rss " $2 " fds " $3; exit }' \
        "$out/$be.samples")
    if [ -n "$grown" ]; then
      verdict="GREW (at $grown)"
      status=1
    fi
  fi
  printf '%-9s %9s %8.2f %10.0f %9s %9s %9s %5s %5s %5s  %s\n' "$be" "$done_req" "$elapsed" \
    "$(awk -v n="$done_req" -v t="$elapsed" 'BEGIN { print n / t }')" "$rss_w" "$rss_e" "$rss_max" "$fd_w" "$fd_e" \
    "$fd_max" "$verdict ($n samples)"
done
exit $status
