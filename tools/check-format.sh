#!/usr/bin/env bash
# Fails when a C file outside include/ differs from what .clang-format makes
# of it (clang-format 14, Debian 12's), naming the files; run
#   git ls-files '*.c' '*.h' '*.cc' | grep -v '^include/' | xargs clang-format -i
# to fix them.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v clang-format >/dev/null || { echo "check-format: clang-format is not installed" >&2; exit 1; }
bad=0
while IFS= read -r f; do
  if ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then
    echo "check-format: $f is not formatted" >&2
    bad=1
  fi
done < <(git ls-files '*.c' '*.h' '*.cc' | grep -v '^include/')
exit $bad
