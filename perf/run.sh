#!/usr/bin/env bash
# Builds perf/ (Release, build/perf) and measures xfer's backends against the
# peers (wrk, a libcurl multi loop) in one run, against one peer setup: small
# keep-alive requests to a loopback HTTP server pinned to CPU 0, every client
# pinned to CPU 1, medians of REPS interleaved rounds (each round runs every
# client once). Prints one markdown table; raw outputs go to
# build/perf/results/<timestamp>/. The xfer numbers come from build/perf/perf/
# xfer-bench, a Google Benchmark binary that also runs on its own, e.g.
#   build/perf/perf/xfer-bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#   perf/run.sh                          # builtin peer, 5 reps, C = 1 16 64
#   XFER_BENCH_PEER=nginx perf/run.sh    # a private nginx as the peer
#   REPS=3 CONNS="16 64" perf/run.sh
# Takes about 4-5 minutes on the 2-vCPU project VM (each wrk run is
# WRK_SECONDS long; the other clients do a fixed request count), at most
# BUDGET_S (7 minutes) of measuring plus the build.
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/deps.sh
xfer_install_deps

REPS=${REPS:-5}
CONNS=${CONNS:-"1 16 64"}
WRK_SECONDS=${WRK_SECONDS:-5}
export XFER_BENCH_PEER=${XFER_BENCH_PEER:-builtin}
# A median of fewer than three runs is just one run or an average of two.
[ "$REPS" -ge 3 ] || { echo "perf: REPS must be 3 or more" >&2; exit 2; }
# Requests per run of curl_multi_load: the same counts bench_keepalive.c
# uses (REQUESTS_ONE_CONN, REQUESTS_MANY_CONNS), so both do equal work.
requests_for() { if [ "$1" -eq 1 ]; then echo 20000; else echo 200000; fi; }

# Time limits. The rounds stop starting new work once BUDGET_S seconds of
# measuring have passed, and every step is cut at its own cap or at the end
# of the budget, whichever is first: in a slow phase of this VM a
# fixed-count run can take ten times as long as usual, and the whole script
# must still end within 10 minutes. A normal run needs about 4 minutes.
BUDGET_S=${BUDGET_S:-420}
XFER_CAP_S=150       # one xfer-bench round: usually about 20 s
CURL_CAP_S=60        # one curl_multi_load run: usually 1-5 s
WRK_CAP_S=$((WRK_SECONDS + 15))

cmake -S . -B build/perf -DCMAKE_BUILD_TYPE=Release -DXFER_BUILD_TESTS=OFF \
  -DXFER_BUILD_PERF=ON >/dev/null
cmake --build build/perf -j"$(nproc)" \
  --target xfer-bench xfer-bench-peer xfer-bench-run curl_multi_load >/dev/null
bin=build/perf/perf
out=build/perf/results/$(date +%Y%m%d-%H%M%S)
mkdir -p "$out"

# System calls are counted on the raw_syscalls:sys_enter tracepoint, whose
# id lives in tracefs. When it is not mounted and we are root, the clients
# run in a private mount namespace with tracefs mounted there: the machine's
# own mounts stay untouched. Otherwise the syscall column reads -1.
traced=()
tp=raw_syscalls/sys_enter/id
if [ ! -r /sys/kernel/tracing/events/$tp ] && [ ! -r /sys/kernel/debug/tracing/events/$tp ] &&
   [ "$(id -u)" -eq 0 ] && command -v unshare >/dev/null &&
   unshare -m sh -c "mount -t tracefs nodev /sys/kernel/tracing && test -r /sys/kernel/tracing/events/$tp" 2>/dev/null; then
  traced=(unshare -m sh -c 'mount -t tracefs nodev /sys/kernel/tracing && exec "$@"' sh)
fi
# xfer-bench pins itself and its peer; the other clients are pinned here.
pin=()
[ "$(nproc)" -gt 1 ] && pin=(taskset -c 1)

. perf/peer.sh

echo "perf: results in $out (peer $XFER_BENCH_PEER, $REPS reps, C = $CONNS)" >&2
# Load before the run: other work on this 2-vCPU machine shows up as noise.
echo "loadavg before: $(cut -d' ' -f1-3 /proc/loadavg)" > "$out/load.txt"

# ---- the clients ----------------------------------------------------------------
budget_end=$((SECONDS + BUDGET_S))
# The seconds a step may take: its cap, or what is left of the budget.
limit() {
  local left=$((budget_end - SECONDS))
  if [ "$left" -lt "$1" ]; then echo "$left"; else echo "$1"; fi
}

# Each round runs every client once, the starting one alternating, as the
# baselines' harness did: this VM has slow phases of a minute or two that no
# client should meet alone. Each run appends one row per connection count to
# rows.tsv: tool conns req_s cpu usr sys syscalls errors note.

# xfer: one Google Benchmark repetition per round, all backends and
# connection counts; the binary starts its own peer of the same kind.
filter="keepalive/.*/conns:($(echo $CONNS | tr ' ' '|'))/"
run_xfer() {  # rep
  local f="$out/xfer-r$1" t
  t=$(limit "$XFER_CAP_S"); [ "$t" -gt 0 ] || return 0
  timeout "$t" "${traced[@]}" "$bin/xfer-bench" --benchmark_filter="$filter" \
    --benchmark_out="$f.json" --benchmark_out_format=json > "$f.txt" 2>&1 ||
    echo "perf: xfer-bench failed in round $1, see $f.txt" >&2
  [ -s "$f.json" ] || return 0
  # GBench writes one JSON field per line; a skipped backend gives one
  # row with the reason instead of numbers.
  awk -F'": ' '
    function val(s) { sub(/,$/, "", s); gsub(/"/, "", s); return s }
    /"run_name"/       { run = val($2) }
    /"run_type"/       { type = val($2) }
    /"error_message"/  { err = val($2) }
    /"req\/s"/         { rps = val($2) }
    /"cpu_us\/req"/    { cpu = val($2) }
    /"usr_us\/req"/    { usr = val($2) }
    /"sys_us\/req"/    { sys = val($2) }
    /"syscalls\/req"/  { sc = val($2) }
    /"errors"/         { errs = val($2) }
    /"reconnects"/     { rec = val($2) }
    /^    }/ {
      split(run, p, "/"); c = p[3]; sub(/conns:/, "", c)
      if (err != "" && !(("xfer " p[2], c) in seen)) {
        seen["xfer " p[2], c] = 1
        printf "xfer %s\t%s\t-\t-\t-\t-\t-\t-\tskipped: %s\n", p[2], c, err
      } else if (err == "" && type == "iteration") {
        printf "xfer %s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p[2], c, rps, cpu, usr, sys, sc, errs,
               (rec + 0 > 0 ? "reconnects " rec : "")
      }
      run = type = err = rps = cpu = usr = sys = sc = errs = rec = ""
    }' "$f.json" >> "$out/rows.tsv"
}

# wrk and libcurl: against xfer-bench-peer, the same peer as a program.
peer_start "$bin" "$out"
url="http://127.0.0.1:$port/small"

run_wrk() {  # conns rep
  local f="$out/wrk-c$1-r$2.txt" t
  t=$(limit "$WRK_CAP_S"); [ "$t" -gt "$WRK_SECONDS" ] || return 0
  timeout "$t" "${pin[@]}" "${traced[@]}" "$bin/xfer-bench-run" \
    wrk -t1 -c"$1" -d"${WRK_SECONDS}s" "$url" > "$f" 2>&1 || true
  awk -v c="$1" '
    / requests in /       { n = $1 }
    /^Requests\/sec:/     { rps = $2 }
    /Socket errors:/      { gsub(/[^0-9 ]/, " "); e += $1 + $2 + $3 + $4 }
    /Non-2xx/             { e += $NF }
    /^rusage / {
      for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
      if (n > 0)
        printf "wrk\t%s\t%s\t%.3f\t%.3f\t%.3f\t%.3f\t%d\t\n", c, rps,
               (v["usr_s"] + v["sys_s"]) * 1e6 / n, v["usr_s"] * 1e6 / n, v["sys_s"] * 1e6 / n,
               (v["syscalls"] < 0 ? -1 : v["syscalls"] / n), e
    }' "$f" >> "$out/rows.tsv"
}

run_curl() {  # conns rep
  local f="$out/curl-c$1-r$2.txt" t
  t=$(limit "$CURL_CAP_S"); [ "$t" -gt 0 ] || return 0
  timeout "$t" "${pin[@]}" "${traced[@]}" "$bin/curl_multi_load" \
    -c "$1" -n "$(requests_for "$1")" "$url" > "$f" 2>&1 || true
  awk -v c="$1" '/^requests=/ {
      for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
      printf "libcurl multi\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c, v["req_per_s"],
             v["cpu_us_per_req"], v["usr_us_per_req"], v["sys_us_per_req"],
             v["syscalls_per_req"], v["errors"], (v["reconnects"] + 0 > 0 ? "reconnects " v["reconnects"] : "")
    }' "$f" >> "$out/rows.tsv"
}

: > "$out/rows.tsv"
for c in $CONNS; do  # one unrecorded 1 s warm-up per connection count, as the baselines
  timeout 30 "${pin[@]}" wrk -t1 -c"$c" -d1s "$url" > /dev/null 2>&1 || true
done
run_peers() {  # rep
  for c in $CONNS; do
    if [ $(($1 % 2)) -eq 1 ]; then run_wrk "$c" "$1"; run_curl "$c" "$1"
    else run_curl "$c" "$1"; run_wrk "$c" "$1"; fi
  done
}
for rep in $(seq "$REPS"); do
  if [ "$SECONDS" -ge "$budget_end" ]; then
    echo "perf: time budget of ${BUDGET_S}s used up after $((rep - 1)) rounds" >&2
    break
  fi
  echo "perf: round $rep/$REPS" >&2
  if [ $((rep % 2)) -eq 1 ]; then run_xfer "$rep"; run_peers "$rep"
  else run_peers "$rep"; run_xfer "$rep"; fi
done
peer_stop
echo "loadavg after: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$out/load.txt"

# ---- 3. the table --------------------------------------------------------------
# Medians per tool and connection count, each metric on its own, as
# Google Benchmark does for its counters.
awk -F'\t' -v reps="$REPS" -v peer="$XFER_BENCH_PEER" '
  function median(key, m,   n, i, j, t, a) {
    n = cnt[key]
    for (i = 1; i <= n; i++) a[i] = vals[key, m, i] + 0
    for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j > 0 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  function ratio(a, b) { return (a > 0 && b > 0) ? sprintf("%.2f", a / b) : "-" }
  function fmt(x, d) { return x < 0 ? "n/a" : sprintf("%." d "f", x) }
  {
    key = $1 SUBSEP $2
    if (!(key in cnt)) { order[++nkeys] = key; tool[key] = $1; conns[key] = $2 }
    k = ++cnt[key]
    for (m = 3; m <= 8; m++) vals[key, m, k] = $m
    if ($9 != "") note[key] = $9
    if ($3 == "-") skipped[key] = 1
  }
  END {
    for (i = 1; i <= nkeys; i++) {
      key = order[i]
      if (skipped[key]) continue
      for (m = 3; m <= 8; m++) med[key, m] = median(key, m)
      lo = hi = vals[key, 3, 1] + 0
      for (k = 2; k <= cnt[key]; k++) {
        v = vals[key, 3, k] + 0
        if (v < lo) lo = v
        if (v > hi) hi = v
      }
      # (max - min) / median of req/s: above ~10% the machine had a slow phase
      # during the runs (small requests repeat within 5% otherwise).
      spread[key] = med[key, 3] > 0 ? 100 * (hi - lo) / med[key, 3] : 0
    }
    print "| client | conns | req/s | req/s spread | client CPU µs/req (usr + sys) | syscalls/req | CPU ÷ libcurl | CPU ÷ wrk | req/s ÷ libcurl | req/s ÷ wrk | notes |"
    print "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    for (i = 1; i <= nkeys; i++) {
      key = order[i]; c = conns[key]
      if (skipped[key]) {
        printf "| %s | %s | - | - | - | - | - | - | - | - | %s |\n", tool[key], c, note[key]
        continue
      }
      lc = "libcurl multi" SUBSEP c; wk = "wrk" SUBSEP c
      n = note[key]
      if (med[key, 8] > 0) n = n (n == "" ? "" : "; ") "errors " med[key, 8]
      # Runs cut by a time limit leave no row: say how many the median has.
      if (cnt[key] < reps) n = n (n == "" ? "" : "; ") cnt[key] " of " reps " runs"
      printf "| %s | %s | %.0f | %.0f%% | %.2f (%.2f + %.2f) | %s | %s | %s | %s | %s | %s |\n",
        tool[key], c, med[key, 3], spread[key], med[key, 4], med[key, 5], med[key, 6], fmt(med[key, 7], 2),
        ratio(med[key, 4], med[lc, 4]), ratio(med[key, 4], med[wk, 4]),
        ratio(med[key, 3], med[lc, 3]), ratio(med[key, 3], med[wk, 3]), n
    }
    printf "\nMedians of %d interleaved rounds; peer %s pinned to CPU 0, clients to CPU 1. ", reps, peer
    print "Ratios below 1 in the CPU columns mean less client CPU per request than that peer."
  }' <(sort -t$'\t' -k2,2n -k1,1r "$out/rows.tsv") | tee "$out/summary.md"
cat "$out/load.txt"
