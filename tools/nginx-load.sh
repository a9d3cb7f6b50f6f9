#!/usr/bin/env bash
# Load-tests a real nginx with xfer-load on every backend, the way perf/
# measures the peers: a private nginx (one worker, its own
# config in a temporary directory) pinned to CPU 0, the client pinned to
# CPU 1. Arguments go to xfer-load; the default is -c 64 -n 100000.
#   ./tools/nginx-load.sh                  # -c 64 -n 100000 on each backend
#   ./tools/nginx-load.sh -c 16 -d 5       # any xfer-load flags
# Set WRK=1 to run wrk against the same server afterwards, for comparison.
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/deps.sh
xfer_install_deps
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DXFER_BUILD_TESTS=OFF >/dev/null
cmake --build build/release -j"$(nproc)" --target xfer-load >/dev/null

args=("$@")
[ ${#args[@]} -eq 0 ] && args=(-c 64 -n 100000)

dir=$(mktemp -d /tmp/xfer-nginx.XXXXXX)
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT

# A free port below the kernel's ephemeral range, so that no client socket
# of this run can hold it; retried if nginx cannot bind it.
cpus=$(nproc)
for attempt in 1 2 3 4 5 6 7 8; do
  port=$((20000 + RANDOM % 12000))
  cat > "$dir/nginx.conf" <<CONF
daemon off;
master_process on;
worker_processes 1;
$( [ "$(id -u)" -eq 0 ] && echo "user root;" )
pid $dir/nginx.pid;
error_log $dir/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  keepalive_timeout 300s;
  tcp_nodelay on;
  client_body_temp_path $dir/body;
  proxy_temp_path $dir/proxy;
  fastcgi_temp_path $dir/fastcgi;
  uwsgi_temp_path $dir/uwsgi;
  scgi_temp_path $dir/scgi;
  server {
    listen 127.0.0.1:$port;
    location /small { return 200 "Hello, world!"; }
  }
}
CONF
  if [ "$cpus" -gt 1 ]; then
    taskset -c 0 /usr/sbin/nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" &
  else
    /usr/sbin/nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" &
  fi
  pid=$!
  for _ in $(seq 50); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then break; fi
  wait "$pid" 2>/dev/null || true
  pid=
done
[ -n "$pid" ] || { echo "nginx did not start:" >&2; cat "$dir/error.log" >&2; exit 1; }

url="http://127.0.0.1:$port/small"
client=()
[ "$cpus" -gt 1 ] && client=(taskset -c 1)
status=0
for backend in $(build/release/tools/xfer-load --help 2>&1 | sed -n 's/.*--backend \([a-z_|]*\).*/\1/p' | head -1 | tr '|' ' '); do
  echo "== backend $backend"
  "${client[@]}" build/release/tools/xfer-load --backend "$backend" "${args[@]}" "$url" || {
    rc=$?
    # A backend this build or kernel cannot provide is reported, not failed.
    [ $rc -eq 1 ] && build/release/tools/xfer-load --backend "$backend" -n 1 "$url" 2>&1 |
      grep -q "not available" && continue
    status=1
  }
done
if [ "${WRK:-0}" = 1 ]; then
  echo "== wrk"
  "${client[@]}" wrk -t1 -c64 -d5s "$url"
fi
exit $status
