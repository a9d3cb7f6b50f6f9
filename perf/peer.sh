# Sourced by the perf scripts: starts the loopback peer (xfer-bench-peer,
# which runs the built-in server or, with XFER_BENCH_PEER=nginx, a private
# nginx pinned to CPU 0) and stops it when the script exits.
#   peer_start BIN_DIR OUT_DIR   # sets $peer_pid and $port, or exits 1
#   peer_stop
peer_pid=
peer_stop() {
  if [ -n "$peer_pid" ]; then kill "$peer_pid" 2>/dev/null || true; wait "$peer_pid" 2>/dev/null || true; fi
  peer_pid=
}
trap peer_stop EXIT

peer_start() {
  "$1/xfer-bench-peer" > "$2/peer.txt" 2> "$2/peer.err" &
  peer_pid=$!
  port=
  for _ in $(seq 100); do  # up to 10 s for the peer to answer
    port=$(sed -n 's/^port \([0-9]*\).*/\1/p' "$2/peer.txt")
    [ -n "$port" ] && return 0
    kill -0 "$peer_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "perf: the peer did not start:" >&2
  cat "$2/peer.err" >&2
  exit 1
}
