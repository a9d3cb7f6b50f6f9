#!/usr/bin/env bash
# Fuzzes every harness of tests/fuzz/ for a bounded time with libFuzzer:
#   tools/fuzz.sh [SECONDS]     (default 60 per harness)
# Builds the harnesses with clang, ASan + UBSan and -fsanitize=fuzzer into
# build/fuzz, generates the seed corpus, then runs the harnesses two at a
# time (XFER_FUZZ_JOBS), each for SECONDS, with a scratch corpus that starts
# from the seeds (the seeds in the build tree stay as generated). Fails when
# any harness crashes, leaks or trips a check; the crashing input is kept in
# build/fuzz/artifacts/. Each harness's last libFuzzer line (executions,
# cov, ft) is printed at the end. Without clang it says so and does nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
jobs=${XFER_FUZZ_JOBS:-2}
dir=build/fuzz

if ! command -v clang >/dev/null 2>&1; then
  echo "fuzz: skipped: clang is not installed (tools/deps.sh installs clang and libclang-rt-14-dev)" >&2
  exit 0
fi

CC=clang CXX=clang++ cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  "-DXFER_SANITIZE=address;undefined" -DXFER_FUZZ=ON \
  "-DCMAKE_C_FLAGS=-fsanitize=fuzzer-no-link" >/dev/null
cmake --build "$dir" -j"$(nproc)" --target fuzz_harnesses fuzz_corpus

harnesses=()
for src in tests/fuzz/fuzz_*.c; do
  name=$(basename "$src" .c)
  harnesses+=("${name#fuzz_}")
done

rm -rf "$dir/scratch" "$dir/logs"
mkdir -p "$dir/scratch" "$dir/logs" "$dir/artifacts"

# One harness: a scratch copy of its seeds, then libFuzzer for $seconds.
# -rss_limit_mb stays under what two parallel runs may take on a small
# machine; -timeout flags an input that hangs one harness for 10 s.
fuzz_one() {
  local h=$1
  local scratch="$dir/scratch/$h"
  mkdir -p "$scratch"
  cp "$dir/tests/fuzz/corpus/$h"/* "$scratch"/
  local rc=0
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    "$dir/tests/fuzz/fuzz_$h" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$dir/artifacts/$h-" "$scratch" \
    >"$dir/logs/$h.log" 2>&1 || rc=$?
  echo "$rc" >"$dir/logs/$h.rc"
}

# At most $jobs harnesses at once; each writes its exit status to a file,
# so the order in which they end does not matter.
for h in "${harnesses[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do
    wait -n || true
  done
  fuzz_one "$h" &
done
wait

status=0
for h in "${harnesses[@]}"; do
  if [ "$(cat "$dir/logs/$h.rc" 2>/dev/null || echo missing)" != 0 ]; then
    echo "fuzz: $h FAILED; log: $dir/logs/$h.log" >&2
    tail -n 40 "$dir/logs/$h.log" >&2
    status=1
  fi
done

for h in "${harnesses[@]}"; do
  line=$(grep -E '^#[0-9]+.*(DONE|cov:)' "$dir/logs/$h.log" | tail -n 1 || true)
  execs=$(grep -E '^stat::number_of_executed_units' "$dir/logs/$h.log" | awk '{print $2}' | tail -n 1 || true)
  printf 'fuzz: %-10s %s (executions %s)\n' "$h" "$line" "${execs:-?}"
done
exit $status
