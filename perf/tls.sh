#!/usr/bin/env bash
# Builds xfer-load (Release, build/perf-tls) and measures xfer's HTTPS against
# wrk in one run, against one peer: a private nginx (one worker, TLS 1.3 only,
# an EC P-256 certificate from a throw-away CA) pinned to CPU 0, every client
# pinned to CPU 1, medians of REPS interleaved rounds (each round runs every
# client once, the order rotated from round to round). Two tests:
#   13 B,   64 connections: client CPU per request and requests/s
#   16 MiB,  1 connection:  MiB/s of body received
# xfer runs with openssl on every backend and with wolfssl on io_uring and
# epoll (13 B) or io_uring (16 MiB), verifying the server with --cacert; one
# extra 13 B row runs with -k. Prints the versions, two markdown tables and
# the directory of raw outputs, build/perf-tls/results/<timestamp>/.
#   perf/tls.sh                              # 5 rounds, 5 s per run
#   REPS=3 SECONDS_SMALL=3 SECONDS_BIG=3 perf/tls.sh
#   SUITE=TLS_AES_128_GCM_SHA256 perf/tls.sh # one TLS 1.3 suite for everyone
# Takes about 6-7 minutes with the defaults on the 2-vCPU project VM (12
# runs of 5 s per round), at most BUDGET_S (8 minutes) of measuring plus the
# build.
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/deps.sh
. perf/nginx.sh
xfer_install_deps

REPS=${REPS:-5}
SECONDS_SMALL=${SECONDS_SMALL:-5}
SECONDS_BIG=${SECONDS_BIG:-5}
# Empty: every client offers its own TLS 1.3 suites and nginx takes the
# client's first choice (its default), so the suites may differ between
# clients; they are printed under the tables. A name here makes nginx accept
# that suite only.
SUITE=${SUITE:-}
BUDGET_S=${BUDGET_S:-480}
# A median of fewer than three runs is just one run or an average of two.
[ "$REPS" -ge 3 ] || { echo "perf-tls: REPS must be 3 or more" >&2; exit 2; }
for v in SECONDS_SMALL SECONDS_BIG; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "perf-tls: $v must be a whole number of seconds" >&2; exit 2; }
done

build=build/perf-tls
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DXFER_BUILD_TESTS=OFF > "$build.cmake.log" 2>&1 ||
  { cat "$build.cmake.log" >&2; exit 1; }
cmake --build "$build" -j"$(nproc)" --target xfer-load > "$build.build.log" 2>&1 ||
  { cat "$build.build.log" >&2; exit 1; }
xl=$PWD/$build/tools/xfer-load
out=$PWD/$build/results/$(date +%Y%m%d-%H%M%S)
mkdir -p "$out"
mv "$build.cmake.log" "$build.build.log" "$out/"

# Server on CPU 0, clients on CPU 1; with one CPU nothing is pinned.
srv_pin=() pin=()
if [ "$(nproc)" -gt 1 ]; then srv_pin=(taskset -c 0); pin=(taskset -c 1)
else echo "perf-tls: one CPU only: server and clients share it, nothing is pinned" >&2; fi

dir=$(mktemp -d /tmp/xfer-perf-tls.XXXXXX)
nginx_pid=
cleanup() {
  if [ -n "$nginx_pid" ]; then
    kill -TERM "$nginx_pid" 2>/dev/null || true
    wait "$nginx_pid" 2>/dev/null || true
  fi
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM   # so that the EXIT trap runs on a signal too

# ---- the certificates and the files ------------------------------------------
mkdir -p "$dir/www"
{
  openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj "/CN=xfer perf-tls test CA" -keyout "$dir/ca.key" -out "$dir/ca.pem" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -subj "/CN=127.0.0.1" -keyout "$dir/leaf.key" -out "$dir/leaf.csr"
  printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost" "basicConstraints=critical,CA:FALSE" \
    "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" > "$dir/leaf.ext"
  openssl x509 -req -in "$dir/leaf.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -set_serial 2 \
    -days 2 -extfile "$dir/leaf.ext" -out "$dir/leaf.pem"
} > "$out/certs.log" 2>&1 || { cat "$out/certs.log" >&2; exit 1; }
cp "$dir/ca.pem" "$out/ca.pem"
printf 'Hello, world!' > "$dir/www/small"
head -c $((16 << 20)) /dev/urandom > "$dir/www/16m"

# ---- nginx -------------------------------------------------------------------
write_conf() {  # port
  local suite=""
  [ -n "$SUITE" ] && suite="ssl_conf_command Ciphersuites $SUITE; ssl_prefer_server_ciphers on;"
  cat > "$dir/nginx.conf" <<CONF
daemon off;
master_process on;
worker_processes 1;
$( [ "$(id -u)" -eq 0 ] && echo "user root;" )
pid $dir/nginx.pid;
error_log $dir/error.log;
events { worker_connections 1024; }
http {
  default_type text/plain;
  access_log off;
  log_format tls '\$ssl_protocol \$ssl_cipher \$ssl_curve';
  keepalive_requests 10000000;
  keepalive_timeout 300s;
  tcp_nodelay on;
  sendfile on;
  open_file_cache max=16 inactive=1h;
  open_file_cache_valid 1h;
  client_body_temp_path $dir/body;
  proxy_temp_path $dir/proxy;
  fastcgi_temp_path $dir/fastcgi;
  uwsgi_temp_path $dir/uwsgi;
  scgi_temp_path $dir/scgi;
  server {
    listen 127.0.0.1:$1 ssl;
    ssl_certificate $dir/leaf.pem;
    ssl_certificate_key $dir/leaf.key;
    ssl_protocols TLSv1.3;
    ssl_session_cache shared:TLS:1m;
    $suite
    root $dir/www;
    location = /small { }
    location = /16m { }
    # Hit once per client before the rounds, to log the suite it negotiates.
    location = /tls { access_log $dir/tls.log tls; return 200 "tls"; }
  }
}
CONF
}

# An ephemeral port the kernel hands out for 127.0.0.1:0 and that is free at
# that moment; tried again with a new one when nginx cannot bind it.
port=
for attempt in 1 2 3 4 5 6 7 8; do
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  write_conf "$port"
  nginx_up "$port" "${srv_pin[@]}" && break
  grep -q "in use" "$dir/error.log" || break   # only a taken port is worth another try
done
[ -n "$nginx_pid" ] || { echo "perf-tls: nginx did not start:" >&2; cat "$dir/error.log" >&2; exit 1; }
# The certificate must verify for 127.0.0.1 against the test CA, or every
# xfer run with --cacert would only measure failed handshakes.
timeout 5 openssl s_client -connect "127.0.0.1:$port" -CAfile "$dir/ca.pem" -verify_ip 127.0.0.1 \
  -verify_return_error -brief < /dev/null > "$out/s_client.txt" 2>&1 ||
  { echo "perf-tls: TLS check failed:" >&2; cat "$out/s_client.txt" >&2; exit 1; }
base="https://127.0.0.1:$port"

# ---- the clients -------------------------------------------------------------
# test tool tls-library backend verification; one line per client, in the
# order of the tables.
CLIENTS=(
  "small wrk - - -"
  "small xfer openssl io_uring cacert"
  "small xfer openssl epoll cacert"
  "small xfer openssl poll cacert"
  "small xfer wolfssl io_uring cacert"
  "small xfer wolfssl epoll cacert"
  "small xfer openssl io_uring insecure"
  "big wrk - - -"
  "big xfer openssl io_uring cacert"
  "big xfer openssl epoll cacert"
  "big xfer openssl poll cacert"
  "big xfer wolfssl io_uring cacert"
)
label() {  # tool lib backend verify
  if [ "$1" = wrk ]; then echo wrk; else echo "xfer $2 $3$([ "$4" = insecure ] && echo " -k")"; fi
}
# wrk prints its totals in rounded units; this hook, called once after the
# run, prints them exactly. It defines no request() or response(), so wrk
# keeps its precomputed request and its usual fast path.
cat > "$out/totals.lua" <<'LUA'
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("totals requests=%d bytes=%d duration_us=%d errors=%d status=%d\n",
    summary.requests, summary.bytes, summary.duration,
    e.connect + e.read + e.write + e.timeout, e.status))
end
LUA

# The command of client $1 for a run of $2 seconds against path $3.
client_cmd() {  # index seconds path
  local test tool lib backend verify
  read -r test tool lib backend verify <<< "${CLIENTS[$1]}"
  local conns=64
  [ "$test" = big ] && conns=1
  if [ "$tool" = wrk ]; then
    cmd=(wrk -t1 -c"$conns" -d"$2s" -s "$out/totals.lua" "$base$3")
  else
    cmd=(env XFER_SSL_BACKEND="$lib" "$xl" --backend "$backend" -c "$conns" -d "$2")
    if [ "$verify" = insecure ]; then cmd+=(-k); else cmd+=(--cacert "$dir/ca.pem"); fi
    cmd+=("$base$3")
  fi
}

# Before the rounds: each client once against /tls (1 s for wrk, one request
# for xfer), which checks that its backend and TLS library work here and logs
# the suite it negotiates. A client that fails is left out and said so.
declare -A skip=() suite=()
for i in "${!CLIENTS[@]}"; do
  read -r test tool lib backend verify <<< "${CLIENTS[$i]}"
  key="$tool $lib $backend $verify"
  [ -n "${suite[$key]+x}" ] && continue
  chk="$out/check-$(label "$tool" "$lib" "$backend" "$verify" | tr ' ' '-').txt"
  client_cmd "$i" 1 /tls
  [ "$tool" = xfer ] && cmd=("${cmd[@]/#-d/-n}")   # -d 1 -> -n 1
  before=$(wc -l < "$dir/tls.log" 2>/dev/null || echo 0)
  if timeout 20 "${pin[@]}" "${cmd[@]}" > "$chk" 2>&1 &&
     [ "$(wc -l < "$dir/tls.log" 2>/dev/null || echo 0)" -gt "$before" ]; then
    suite[$key]=$(tail -n 1 "$dir/tls.log")
  else
    suite[$key]=failed
    skip[$key]="failed its check, see $chk"
    echo "perf-tls: $(label "$tool" "$lib" "$backend" "$verify") ${skip[$key]}" >&2
  fi
done

# Client CPU, the same way for every client: the run is the only command of
# a subshell, and bash's `times` then prints on its second line the user and
# system time of the subshell's waited-for children. That is the whole
# client process (all threads, from exec to exit: start, TLS library set-up,
# handshakes, the run) plus timeout(1)'s and taskset's few milliseconds
# (taskset execs the client; timeout only waits). 1 ms resolution, needs no
# extra package, and counts wrk and xfer-load alike. xfer-load's own figure
# (getrusage around its request loop only) is kept for reference in the
# last column, not used in any ratio.
budget_end=$((SECONDS + BUDGET_S))
run_one() {  # index rep
  local test tool lib backend verify secs path
  read -r test tool lib backend verify <<< "${CLIENTS[$1]}"
  [ -n "${skip[$tool $lib $backend $verify]+x}" ] && return 0
  if [ "$test" = big ]; then secs=$SECONDS_BIG path=/16m; else secs=$SECONDS_SMALL path=/small; fi
  local cap=$((secs + 20)) left=$((budget_end - SECONDS))
  [ "$left" -lt "$cap" ] && cap=$left
  [ "$cap" -gt "$secs" ] || return 0
  client_cmd "$1" "$secs" "$path"
  local f="$out/$test-$(label "$tool" "$lib" "$backend" "$verify" | tr ' ' '-')-r$2"
  echo "${cmd[*]}" > "$f.cmd"
  (
    rc=0
    timeout -k 5 "$cap" "${pin[@]}" "${cmd[@]}" > "$f.txt" 2>&1 || rc=$?
    echo "$rc" > "$f.rc"
    times > "$f.times"
  )
  # One row: test index label rep rc usr sys requests bytes seconds errors
  # non2xx handshakes resumed self_us_per_req
  awk -v test="$test" -v idx="$1" -v label="$(label "$tool" "$lib" "$backend" "$verify")" \
      -v rep="$2" -v rc="$(cat "$f.rc")" -v tool="$tool" '
    function secs(t,  a) { split(t, a, /[ms]/); return a[1] * 60 + a[2] }
    FILENAME ~ /\.times$/ && FNR == 2 { usr = secs($1); sys = secs($2) }
    FILENAME ~ /\.txt$/ && tool == "wrk" && /^totals / {
      for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
      req = v["requests"]; bytes = v["bytes"]; s = v["duration_us"] / 1e6
      err = v["errors"]; bad = v["status"]
    }
    FILENAME ~ /\.txt$/ && tool == "xfer" {
      if (/^xfer-load: / && match($0, /, [0-9.]+ s, /)) s = substr($0, RSTART + 2, RLENGTH - 5) + 0
      if ($1 == "requests") req = $2
      # The body bytes: the written-out body, partial last response included.
      if ($1 == "bytes" && match($0, /body [0-9]+/)) bytes = substr($0, RSTART + 5, RLENGTH - 5)
      if ($1 == "errors") { err = $2; bad = $NF }
      if ($1 == "TLS") { hs = $3; res = $5 }
      if ($1 == "client" && $2 == "CPU") self = $(NF - 1)
    }
    END {
      printf "%s\t%s\t%s\t%s\t%s\t%.3f\t%.3f\t%s\t%s\t%.6f\t%s\t%s\t%s\t%s\t%s\n", test, idx, label, rep, rc,
        usr, sys, req + 0, bytes + 0, s + 0, err + 0, bad + 0, (hs == "" ? "-" : hs), (res == "" ? "-" : res),
        (self == "" ? "-" : self)
    }' "$f.times" "$f.txt" >> "$out/rows.tsv"
}

echo "perf-tls: results in $out ($REPS rounds, ${SECONDS_SMALL} s / ${SECONDS_BIG} s per run)" >&2
echo "loadavg before: $(cut -d' ' -f1-3 /proc/loadavg)" > "$out/load.txt"
: > "$out/rows.tsv"
# One unrecorded 1 s warm-up per URL, as perf/run.sh does (nginx's caches,
# the CPUs' frequency).
timeout 30 "${pin[@]}" wrk -t1 -c64 -d1s "$base/small" > /dev/null 2>&1 || true
timeout 30 "${pin[@]}" wrk -t1 -c1 -d1s "$base/16m" > /dev/null 2>&1 || true
n=${#CLIENTS[@]}
for rep in $(seq "$REPS"); do
  if [ "$SECONDS" -ge "$budget_end" ]; then
    echo "perf-tls: time budget of ${BUDGET_S}s used up after $((rep - 1)) rounds" >&2
    break
  fi
  echo "perf-tls: round $rep/$REPS" >&2
  # Round r starts at client (r-1) mod n: every client meets a different
  # part of the round, so a slow phase of the VM is shared out.
  for k in $(seq 0 $((n - 1))); do run_one $(((rep - 1 + k) % n)) "$rep"; done
done
echo "loadavg after: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$out/load.txt"
for i in "${!CLIENTS[@]}"; do
  read -r test tool lib backend verify <<< "${CLIENTS[$i]}"
  printf '%s\t%s\n' "$(label "$tool" "$lib" "$backend" "$verify")" "${suite[$tool $lib $backend $verify]}"
done | awk '!seen[$0]++' > "$out/suites.tsv"

# ---- the report --------------------------------------------------------------
{
  echo "date:    $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "kernel:  $(uname -r)"
  echo "CPU:     $(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) CPUs"
  echo "nginx:   $(/usr/sbin/nginx -v 2>&1)"
  echo "wrk:     $(wrk -v 2>&1 | head -n 1 || true)"
  echo "openssl: $(openssl version)"
  # xfer-load has no --version; the configure summary names the version, the
  # backends and the TLS libraries of this build.
  echo "xfer:    $(sed -n 's/^-- \(xfer [0-9].*\)/\1/p' "$out/$(basename "$build").cmake.log" | head -n 1)," \
       "commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- . ':(exclude)docs' 2>/dev/null || echo ' + uncommitted changes outside docs/')"
  echo "REPS:    $REPS (${SECONDS_SMALL} s per 13 B run, ${SECONDS_BIG} s per 16 MiB run)"
  sed 's/^/         /' "$out/load.txt"
  echo
  awk -F'\t' -v reps="$REPS" -v suite="$SUITE" '
    function median(key, m,   n, i, j, t, a) {
      n = cnt[key]
      for (i = 1; i <= n; i++) a[i] = vals[key, m, i] + 0
      for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j > 0 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
      return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    function spread(key, m,   k, v, lo, hi) {
      lo = hi = vals[key, m, 1]
      for (k = 2; k <= cnt[key]; k++) { v = vals[key, m, k]; if (v < lo) lo = v; if (v > hi) hi = v }
      return med[key, m] > 0 ? 100 * (hi - lo) / med[key, m] : 0
    }
    function ratio(a, b) { return (a > 0 && b > 0) ? sprintf("%.2f", a / b) : "-" }
    function add(s, t) { return s (s == "" ? "" : "; ") t }
    FILENAME ~ /suites/ { neg[++nneg] = sprintf("  %-24s %s", $1, $2); next }
    {
      test = $1; key = test SUBSEP $3
      if (!(key in label)) { label[key] = $3; idx[key] = $2; keys[test, ++nk[test]] = key }
      # A run cut by its time limit, or that finished nothing, is left out.
      if (($5 != 0 && $5 != 1) || $8 == 0 || $10 == 0) { cut[key]++; next }
      k = ++cnt[key]
      mib = $9 / 1048576
      vals[key, 1, k] = $8 / $10                       # req/s
      vals[key, 2, k] = mib / $10                      # MiB/s
      vals[key, 3, k] = ($6 + $7) * 1e6 / $8           # CPU us/req
      vals[key, 4, k] = $6 * 1e6 / $8
      vals[key, 5, k] = $7 * 1e6 / $8
      vals[key, 6, k] = mib > 0 ? ($6 + $7) * 1e6 / mib : 0   # CPU us/MiB
      vals[key, 7, k] = $6 * 1e6 / (mib > 0 ? mib : 1)
      vals[key, 8, k] = $7 * 1e6 / (mib > 0 ? mib : 1)
      vals[key, 9, k] = $11 + $12                      # errors + non-2xx
      vals[key, 10, k] = $15 == "-" ? -1 : $15         # xfer-load own us/req
      hs[key] = $13; res[key] = $14
    }
    function finish(test,   i, key) {
      for (i = 1; i <= nk[test]; i++) {
        key = keys[test, i]
        if (!cnt[key]) continue
        for (m = 1; m <= 10; m++) med[key, m] = median(key, m)
      }
    }
    function notes(key,   n) {
      n = ""
      if (med[key, 9] > 0) n = add(n, "errors " med[key, 9])
      if (cnt[key] < reps) n = add(n, cnt[key] " of " reps " runs" (cut[key] ? ", " cut[key] " cut or failed" : ""))
      if (hs[key] != "-" && hs[key] != "") n = add(n, hs[key] " handshakes, " res[key] " resumed")
      if (label[key] ~ / -k$/) n = add(n, "no verification, as wrk")
      return n
    }
    END {
      finish("small"); finish("big")
      w = "small" SUBSEP "wrk"
      print "### 13 B, 64 connections, TLS 1.3"
      print ""
      print "| client | req/s | req/s spread | client CPU µs/req (usr + sys) | CPU ÷ wrk | req/s ÷ wrk | xfer-load'"'"'s own µs/req | notes |"
      print "|---|---:|---:|---:|---:|---:|---:|---|"
      for (i = 1; i <= nk["small"]; i++) {
        key = keys["small", i]
        if (!cnt[key]) { printf "| %s | - | - | - | - | - | - | no complete run |\n", label[key]; continue }
        printf "| %s | %.0f | %.0f%% | %.2f (%.2f + %.2f) | %s | %s | %s | %s |\n", label[key],
          med[key, 1], spread(key, 1), med[key, 3], med[key, 4], med[key, 5],
          ratio(med[key, 3], med[w, 3]), ratio(med[key, 1], med[w, 1]),
          (med[key, 10] < 0 ? "-" : sprintf("%.2f", med[key, 10])), notes(key)
      }
      w = "big" SUBSEP "wrk"
      print ""
      print "### 16 MiB, 1 connection, TLS 1.3"
      print ""
      print "| client | MiB/s (body) | MiB/s spread | client CPU µs/MiB (usr + sys) | MiB/s ÷ wrk | CPU ÷ wrk | responses/s | notes |"
      print "|---|---:|---:|---:|---:|---:|---:|---|"
      for (i = 1; i <= nk["big"]; i++) {
        key = keys["big", i]
        if (!cnt[key]) { printf "| %s | - | - | - | - | - | - | no complete run |\n", label[key]; continue }
        printf "| %s | %.1f | %.0f%% | %.0f (%.0f + %.0f) | %s | %s | %.2f | %s |\n", label[key],
          med[key, 2], spread(key, 2), med[key, 6], med[key, 7], med[key, 8],
          ratio(med[key, 2], med[w, 2]), ratio(med[key, 6], med[w, 6]), med[key, 1], notes(key)
      }
      print ""
      printf "Medians of %d interleaved rounds (each metric on its own, so usr + sys need not add up exactly); ", reps
      print "nginx (1 worker) pinned to CPU 0, every client to CPU 1, over loopback."
      print "Client CPU: user + system time of the whole client process (bash `times` of a subshell that runs"
      print "only that client; the same for wrk and xfer-load), divided by completed requests, or by MiB of body."
      print "wrk does not verify the server certificate; xfer verifies it against --cacert (chain, IP SAN) at"
      print "each handshake, 64 per 13 B run, 1 per 16 MiB run. The `-k` row skips verification, as wrk does."
      print "MiB/s: xfer-load: body bytes / elapsed from its report; wrk: all bytes read / run time from a Lua"
      print "done() hook (heads add ~250 B per 16 MiB). Both count the partial response at the deadline."
      print "Spread: (max - min) / median over the rounds; above ~10% the VM had a slow phase."
      print ""
      printf "TLS 1.3 suite and group each client negotiated (%s):\n", \
        (suite == "" ? "each client offers its own order and nginx takes the client'"'"'s choice" : "nginx allows " suite " only")
      for (i = 1; i <= nneg; i++) print neg[i]
    }' "$out/suites.tsv" <(sort -t$'\t' -k2,2n -k4,4n "$out/rows.tsv")
  echo
  echo "raw outputs: $out"
} | tee "$out/summary.md"
