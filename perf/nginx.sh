# Sourced by the perf scripts that run their own nginx (compare.sh, tls.sh).
#   nginx_up PORT [PIN...]
# Starts nginx on $dir/nginx.conf (the caller writes it, with PORT in it),
# logging to $dir/error.log, under the PIN prefix (taskset -c 0, or none),
# and waits at most 5 s for PORT to accept. Sets nginx_pid and returns 0; or
# stops it, clears nginx_pid and returns 1 (the caller may try another port:
# ephemeral ports picked in advance can be taken meanwhile).
nginx_up() {
  local port=$1
  shift
  : > "$dir/error.log"
  "$@" /usr/sbin/nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" &
  nginx_pid=$!
  for _ in $(seq 50); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    kill -0 "$nginx_pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -TERM "$nginx_pid" 2>/dev/null || true
  wait "$nginx_pid" 2>/dev/null || true
  nginx_pid=
  return 1
}
