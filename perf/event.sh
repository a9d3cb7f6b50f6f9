#!/usr/bin/env bash
# The event API's cost, measured with one client in its three loops: the
# same source (perf/curl_multi_load.c) built against xfer's curl/curl.h and
# against libcurl, run as
#   perform  curl_multi_perform + curl_multi_poll;
#   socket   curl_multi_socket_action on a raw epoll set (per-socket);
#   single   socket_action with xfer's XFERMOPT_SINGLE_FD (xfer only);
# on xfer's io_uring and epoll backends, 64 keep-alive connections, 13-byte
# body, against a private nginx (one worker) pinned to CPU 0 with every
# client pinned to CPU 1. Medians of REPS interleaved rounds (the order
# rotates from round to round); prints one markdown table with each xfer
# mode's CPU per request over the same backend's perform loop and over
# libcurl's socket_action client. Raw outputs: build/perf/results/event-<time>/.
#   perf/event.sh                       # 5 rounds of 200,000 requests
#   REPS=3 REQUESTS=100000 perf/event.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/deps.sh
xfer_install_deps

REPS=${REPS:-5}
REQUESTS=${REQUESTS:-200000}
CONNS=${CONNS:-64}
[ "$REPS" -ge 3 ] || { echo "perf-event: REPS must be 3 or more" >&2; exit 2; }

cmake -S . -B build/perf -DCMAKE_BUILD_TYPE=Release -DXFER_BUILD_TESTS=OFF \
  -DXFER_BUILD_PERF=ON >/dev/null
cmake --build build/perf -j"$(nproc)" --target xfer-bench-peer curl_multi_load xfer_multi_load >/dev/null
bin=build/perf/perf
out=build/perf/results/event-$(date +%Y%m%d-%H%M%S)
mkdir -p "$out"
pin=()
[ "$(nproc)" -gt 1 ] && pin=(taskset -c 1)

. perf/peer.sh
XFER_BENCH_PEER=nginx peer_start "$bin" "$out"
url="http://127.0.0.1:$port/small"
echo "loadavg before: $(cut -d' ' -f1-3 /proc/loadavg)" > "$out/load.txt"

# client: "library backend mode"
CLIENTS=(
  "xfer io_uring perform" "xfer io_uring socket" "xfer io_uring single"
  "xfer epoll perform" "xfer epoll socket" "xfer epoll single"
  "libcurl - perform" "libcurl - socket"
)
run_client() {  # index round
  local lib be mode f
  read -r lib be mode <<< "${CLIENTS[$1]}"
  f="$out/$lib-$be-$mode-r$2.txt"
  if [ "$lib" = xfer ]; then
    timeout 120 env XFER_BACKEND="$be" "${pin[@]}" "$bin/xfer_multi_load" -m "$mode" \
      -c "$CONNS" -n "$REQUESTS" "$url" > "$f" 2>&1 || true
  else
    timeout 120 "${pin[@]}" "$bin/curl_multi_load" -m "$mode" -c "$CONNS" -n "$REQUESTS" "$url" \
      > "$f" 2>&1 || true
  fi
  awk -v name="$lib $be $mode" '/^requests=/ {
      for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
      printf "%s\t%s\t%s\t%s\t%s\t%s\n", name, v["req_per_s"], v["cpu_us_per_req"],
             v["socket_cbs_per_req"], v["timer_cbs_per_req"], v["errors"]
    }' "$f" >> "$out/rows.tsv"
}

: > "$out/rows.tsv"
timeout 30 "${pin[@]}" "$bin/xfer_multi_load" -c "$CONNS" -n 20000 "$url" > /dev/null 2>&1 || true
n=${#CLIENTS[@]}
for rep in $(seq "$REPS"); do
  echo "perf-event: round $rep/$REPS" >&2
  for k in $(seq 0 $((n - 1))); do
    run_client $(((k + rep) % n)) "$rep"
  done
done
peer_stop
echo "loadavg after: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$out/load.txt"

list=$(printf '%s|' "${CLIENTS[@]}")
awk -F'\t' -v reps="$REPS" -v conns="$CONNS" -v list="${list%|}" '
  function median(key, m,   n, i, j, t, a) {
    n = cnt[key]
    for (i = 1; i <= n; i++) a[i] = vals[key, m, i] + 0
    for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j > 0 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  function ratio(a, b) { return (a > 0 && b > 0) ? sprintf("%.2f", a / b) : "-" }
  BEGIN { nkeys = split(list, order, "|") }
  {
    key = $1
    k = ++cnt[key]
    for (m = 2; m <= 6; m++) vals[key, m, k] = $m
  }
  END {
    for (i = 1; i <= nkeys; i++)
      if (order[i] in cnt)
        for (m = 2; m <= 6; m++) med[order[i], m] = median(order[i], m)
    print "| client | req/s | client CPU µs/req | ÷ perform (same backend) | ÷ libcurl socket | socket cbs/req | timer cbs/req | errors |"
    print "|---|---:|---:|---:|---:|---:|---:|---:|"
    for (i = 1; i <= nkeys; i++) {
      key = order[i]; split(key, p, " ")
      if (!(key in cnt)) { printf "| %s | - | - | - | - | - | - | no run finished |\n", key; continue }
      base = p[1] " " p[2] " perform"
      printf "| %s | %.0f | %.2f | %s | %s | %.3f | %.3f | %s |\n", key, med[key, 2], med[key, 3],
             ratio(med[key, 3], med[base, 3]), ratio(med[key, 3], med["libcurl - socket", 3]),
             med[key, 4], med[key, 5], med[key, 6]
    }
    printf "\nMedians of %d interleaved rounds, %d keep-alive connections, nginx pinned to CPU 0, ", reps, conns
    print "clients to CPU 1; rounds with fewer runs than that are cut by a time limit."
  }' "$out/rows.tsv" | tee "$out/summary.md"
cat "$out/load.txt"
