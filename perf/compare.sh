#!/usr/bin/env bash
# The comparison: xfer-load on each backend, wrk, h2load and a libcurl multi
# load program (perf/curl_multi_load.c), in one interleaved run against one
# private nginx (its own config and certificate, an ephemeral port, one
# worker) pinned to CPU 0, every client pinned to CPU 1. Rows:
#   13 B at 1, 16, 64, 256 and 10,000 connections; 13 B at 1 connection with
#   the client on the server's CPU; 64 KiB at 16 connections; 16 MiB at 1;
#   and over HTTPS (TLS 1.3, OpenSSL for xfer): 13 B at 64, 16 MiB at 1.
# Each client is measured from outside the same way: CPU from wait4() and
# system calls (perf/rusage_run.c), heap allocations by an LD_PRELOAD
# counter (perf/alloccount.c); requests and bytes from the client's own
# totals. Medians of REPS rounds (the order rotates each round), each peer's
# ratio to xfer on io_uring, and docs/benchmarks.md written with the table,
# the machine, the versions and this command.
#   perf/compare.sh                  # 3 rounds of 3 s runs, about 15 minutes
#   REPS=5 SECS=5 perf/compare.sh
#   ROWS="small64 big16m" perf/compare.sh   # some rows only (names below)
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/deps.sh
. perf/nginx.sh
xfer_install_deps

REPS=${REPS:-3}
SECS=${SECS:-3}
ROWS=${ROWS:-"small1 small16 small64 small256 small10k small1same mid16 big1 tls64 tlsbig1"}
[ "$REPS" -ge 3 ] || { echo "compare: REPS must be 3 or more" >&2; exit 2; }
[[ $SECS =~ ^[1-9][0-9]*$ ]] || { echo "compare: SECS must be whole seconds" >&2; exit 2; }

build=build/perf
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DXFER_BUILD_TESTS=OFF -DXFER_BUILD_PERF=ON \
  > /dev/null
cmake --build "$build" -j"$(nproc)" --target xfer-load xfer-bench-run curl_multi_load \
  xfer_alloccount > /dev/null
bin=$PWD/$build/perf
xl=$PWD/$build/tools/xfer-load
count=$PWD/$build/perf/alloccount.so
out=$PWD/$build/results/compare-$(date +%Y%m%d-%H%M%S)
mkdir -p "$out"

srv_cpu=() cli_cpu=() same_cpu=()
if [ "$(nproc)" -gt 1 ]; then srv_cpu=(taskset -c 0); cli_cpu=(taskset -c 1); same_cpu=(taskset -c 0)
else echo "compare: one CPU only: nothing is pinned" >&2; fi
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

dir=$(mktemp -d /tmp/xfer-compare.XXXXXX)
nginx_pid=
cleanup() {
  [ -n "$nginx_pid" ] && { kill -TERM "$nginx_pid" 2>/dev/null || true; wait "$nginx_pid" 2>/dev/null || true; }
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- the server: files, a throw-away CA and leaf, nginx ----------------------
mkdir -p "$dir/www"
printf 'Hello, world!' > "$dir/www/small"
head -c $((64 << 10)) /dev/urandom > "$dir/www/64k"
head -c $((16 << 20)) /dev/urandom > "$dir/www/16m"
{
  openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj "/CN=xfer compare CA" -keyout "$dir/ca.key" -out "$dir/ca.pem" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=127.0.0.1" \
    -keyout "$dir/leaf.key" -out "$dir/leaf.csr"
  printf '%s\n' "subjectAltName=IP:127.0.0.1" "basicConstraints=critical,CA:FALSE" \
    "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" > "$dir/leaf.ext"
  openssl x509 -req -in "$dir/leaf.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -set_serial 2 \
    -days 2 -extfile "$dir/leaf.ext" -out "$dir/leaf.pem"
} > "$out/certs.log" 2>&1 || { cat "$out/certs.log" >&2; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
for attempt in 1 2 3 4 5 6; do
  port=$(free_port) tport=$(free_port)
  cat > "$dir/nginx.conf" <<CONF
daemon off;
master_process on;
worker_processes 1;
worker_rlimit_nofile 65536;
$( [ "$(id -u)" -eq 0 ] && echo "user root;" )
pid $dir/nginx.pid;
error_log $dir/error.log;
events { worker_connections 30000; }
http {
  default_type application/octet-stream;
  access_log off;
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  tcp_nodelay on;
  sendfile on;
  open_file_cache max=16 inactive=1h;
  client_body_temp_path $dir/body;
  proxy_temp_path $dir/proxy;
  fastcgi_temp_path $dir/fastcgi;
  uwsgi_temp_path $dir/uwsgi;
  scgi_temp_path $dir/scgi;
  server {
    listen 127.0.0.1:$port backlog=65535;
    listen 127.0.0.1:$tport ssl backlog=65535;
    ssl_certificate $dir/leaf.pem;
    ssl_certificate_key $dir/leaf.key;
    ssl_protocols TLSv1.3;
    ssl_session_cache shared:TLS:4m;
    root $dir/www;
  }
}
CONF
  nginx_up "$port" "${srv_cpu[@]}" && break
done
[ -n "$nginx_pid" ] || { echo "compare: nginx did not start:" >&2; cat "$dir/error.log" >&2; exit 1; }

# ---- rows and clients -----------------------------------------------------
# row: name scheme path conns body-bytes cpu(other|same)
declare -A ROW=(
  [small1]="http /small 1 13 other" [small16]="http /small 16 13 other"
  [small64]="http /small 64 13 other" [small256]="http /small 256 13 other"
  [small10k]="http /small 10000 13 other" [small1same]="http /small 1 13 same"
  [mid16]="http /64k 16 65536 other" [big1]="http /16m 1 16777216 other"
  [tls64]="https /small 64 13 other" [tlsbig1]="https /16m 1 16777216 other"
)
# "xfer io_uring unbatched" is xfer-load with --batch-wait 0: what the
# io_uring backend's batched waits (XFERMOPT_BATCH_WAIT_US) are worth.
CLIENTS=("xfer io_uring" "xfer io_uring unbatched" "xfer epoll" "xfer poll" "wrk" "h2load" "libcurl")
cat > "$out/totals.lua" <<'LUA'
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("totals requests=%d seconds=%.6f errors=%d\n", summary.requests,
    summary.duration / 1e6, e.connect + e.read + e.write + e.timeout + e.status))
end
LUA

# The command of one client for one row, in cmd[]; empty when the client
# cannot run that row (libcurl over HTTPS with a private CA, or past the
# 4,096 handles of curl_multi_load).
client_cmd() {  # client row
  read -r scheme path conns size where <<< "${ROW[$2]}"
  local url="http://127.0.0.1:$port$path"
  [ "$scheme" = https ] && url="https://127.0.0.1:$tport$path"
  local c=(${1})
  cmd=()
  case "${c[0]}" in
    xfer) cmd=(env XFER_SSL_BACKEND=openssl "$xl" --backend "${c[1]}" -c "$conns" -d "$SECS"
               --cacert "$dir/ca.pem" -q --json - "$url")
          if [ "${c[2]:-}" = unbatched ]; then cmd+=(--batch-wait 0); fi ;;
    wrk) cmd=(wrk -t1 -c"$conns" -d"${SECS}s" -s "$out/totals.lua" "$url") ;;
    h2load) cmd=(h2load --h1 -t1 -c"$conns" -D"$SECS" "$url") ;;
    libcurl)
      [ "$scheme" = https ] || [ "$conns" -gt 4096 ] && return 0
      local n=$((conns * 2000)); [ "$size" -gt 1000000 ] && n=400; [ "$size" -gt 60000 ] && [ "$size" -lt 1000000 ] && n=40000
      [ "$n" -gt 400000 ] && n=400000
      cmd=("$bin/curl_multi_load" -c "$conns" -n "$n" "$url") ;;
  esac
}

# One run: rusage and allocations measured from outside, requests from the
# client. Appends: row client rep requests seconds cpu_us_per_req allocs_per_req errors
run_one() {  # client row rep
  client_cmd "$1" "$2"
  [ ${#cmd[@]} -gt 0 ] || return 0
  read -r _ _ _ _ where <<< "${ROW[$2]}"
  local pin=("${cli_cpu[@]}"); [ "$where" = same ] && pin=("${same_cpu[@]}")
  local f="$out/$2-$(echo "$1" | tr ' ' '-')-r$3"
  timeout -k 5 $((SECS + 60)) "${pin[@]}" "$bin/xfer-bench-run" env LD_PRELOAD="$count" \
    ALLOCCOUNT_OUT="$f.allocs" "${cmd[@]}" > "$f.txt" 2>&1 || true
  awk -v row="$2" -v client="$1" -v rep="$3" -v allocs="$(cat "$f.allocs" 2>/dev/null)" '
    /"requests":/   { gsub(/[^0-9]/, "", $2); req = $2 }
    /"elapsed_s":/  { gsub(/[^0-9.]/, "", $2); sec = $2 }
    /"errors":/ && !/by_code/ { gsub(/[^0-9]/, "", $2); err = $2 }
    /^totals / { for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
                 req = v["requests"]; sec = v["seconds"]; err = v["errors"] }
    /^finished in/ { sec = $3 + 0; if ($3 ~ /ms,?$/) sec /= 1000 }
    /^requests: .* succeeded/ { req = $8 + 0; err = $10 + $12 + $14 }
    /^requests=/ { for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
                   req = v["requests"]; err = v["errors"]; sec = (v["req_per_s"] > 0 ? req / v["req_per_s"] : 0) }
    /^rusage / { for (i = 2; i <= NF; i++) { split($i, kv, "="); r[kv[1]] = kv[2] } }
    END {
      split(allocs, a, " ")
      if (req > 0 && sec > 0)
        printf "%s\t%s\t%s\t%d\t%.6f\t%.3f\t%.3f\t%d\n", row, client, rep, req, sec,
               (r["usr_s"] + r["sys_s"]) * 1e6 / req, a[2] / req, err
    }' "$f.txt" >> "$out/rows.tsv"
}

: > "$out/rows.tsv"
echo "loadavg before: $(cut -d' ' -f1-3 /proc/loadavg)" > "$out/load.txt"
n=${#CLIENTS[@]}
for rep in $(seq "$REPS"); do
  echo "compare: round $rep/$REPS" >&2
  for row in $ROWS; do
    for k in $(seq 0 $((n - 1))); do
      run_one "${CLIENTS[$(((k + rep) % n))]}" "$row" "$rep"
    done
  done
done
echo "loadavg after: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$out/load.txt"

# ---- the table and docs/benchmarks.md ----------------------------------------
table=$(awk -F'\t' -v rows="$ROWS" -v sizes="$(for r in $ROWS; do read -r _ _ _ s _ <<< "${ROW[$r]}"; printf '%s ' "$s"; done)" '
  function median(key, m,   n, i, j, t, a) {
    n = cnt[key]
    for (i = 1; i <= n; i++) a[i] = vals[key, m, i] + 0
    for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j > 0 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  function ratio(a, b) { return (a > 0 && b > 0) ? sprintf("%.2f", a / b) : "-" }
  {
    key = $1 SUBSEP $2; k = ++cnt[key]
    vals[key, "rps", k] = $4 / $5; vals[key, "cpu", k] = $6; vals[key, "alloc", k] = $7
    vals[key, "err", k] = $8
  }
  END {
    nr = split(rows, R, " "); split(sizes, S, " ")
    nc = split("xfer io_uring|xfer io_uring unbatched|xfer epoll|xfer poll|wrk|h2load|libcurl", C, "|")
    print "| row | client | req/s | MiB/s | client CPU µs/req | allocs/req | req/s ÷ xfer io_uring | CPU ÷ xfer io_uring | errors |"
    print "|---|---|---:|---:|---:|---:|---:|---:|---:|"
    for (i = 1; i <= nr; i++) {
      ref = R[i] SUBSEP "xfer io_uring"
      rrps = (ref in cnt) ? median(ref, "rps") : 0; rcpu = (ref in cnt) ? median(ref, "cpu") : 0
      for (j = 1; j <= nc; j++) {
        key = R[i] SUBSEP C[j]
        if (!(key in cnt)) continue
        rps = median(key, "rps"); cpu = median(key, "cpu")
        printf "| %s | %s | %.0f | %.1f | %.2f | %.3f | %s | %s | %.0f |\n", R[i], C[j], rps,
               rps * S[i] / 1048576, cpu, median(key, "alloc"), ratio(rps, rrps), ratio(cpu, rcpu),
               median(key, "err")
      }
    }
  }' "$out/rows.tsv")
echo "$table" | tee "$out/summary.md"

# The soak section (perf/soak.sh's figures, written by hand) is kept.
soak=$(sed -n '/^## Soak/,$p' docs/benchmarks.md 2>/dev/null || true)
{
  echo "# Benchmarks"
  echo
  echo "Written by \`perf/compare.sh\` (REPS=$REPS, SECS=$SECS) on $(date -u +%Y-%m-%d). Every client ran"
  echo "against the same private nginx (one worker, TLS 1.3, an EC P-256 certificate), nginx pinned to"
  echo "CPU 0 and the client to CPU 1 (the \`small1same\` row puts the client on CPU 0 too). Each row is"
  echo "the median of $REPS interleaved rounds; the ratios are each client's median over xfer on io_uring"
  echo "in the same row (below 1 in the CPU column: less CPU per request than xfer). Client CPU is"
  echo "measured from outside (wait4), allocations by an LD_PRELOAD counter of malloc and friends over"
  echo "the whole process, start-up included, divided by the requests of the run. 2-vCPU machines are"
  echo "noisy: read the ratios, and the load averages below."
  echo
  echo "Rows: small = 13 B body, mid = 64 KiB, big = 16 MiB, tls = HTTPS; the number is the connection"
  echo "count (10k = 10,000). libcurl has no HTTPS rows (the program trusts only the system CAs) and"
  echo "no 10k row (curl_multi_load stops at 4,096 handles)."
  echo
  echo "$table"
  echo
  echo "Machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'),"
  echo "Linux $(uname -r). $(cat "$out/load.txt" | tr '\n' ';' | sed 's/;$//')."
  echo
  echo "Versions: xfer $(git rev-parse --short HEAD 2>/dev/null || echo unknown), $(/usr/sbin/nginx -v 2>&1 | sed 's/.*: //'),"
  echo "wrk $(dpkg-query -W -f='${Version}' wrk 2>/dev/null), h2load $(h2load --version 2>/dev/null | awk '{print $2}'),"
  echo "libcurl $(curl-config --version 2>/dev/null | awk '{print $2}'), OpenSSL $(openssl version | awk '{print $2}')."
  echo
  echo "Reproduce: \`REPS=$REPS SECS=$SECS perf/compare.sh\` (raw outputs in \`build/perf/results/\`)."
  if [ -n "$soak" ]; then
    echo
    echo "$soak"
  fi
} > docs/benchmarks.md
echo "compare: wrote docs/benchmarks.md; raw outputs in $out" >&2
