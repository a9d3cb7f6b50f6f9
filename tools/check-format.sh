#!/usr/bin/env bash
# Fails when a C file outside include/ differs from what .clang-format makes
# of it (clang-format 14, Debian 12's), naming the files; run
#   git ls-files '*.c' '*.h' '*.cc' | grep -v '^include/' | xargs clang-format -i
# to fix them.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v clang-format >/dev/null || { echo "check-format: clang-format is not installed" >&2; exit 1; }
# One clang-format for every file: it names each file that differs.
git ls-files -z '*.c' '*.h' '*.cc' | grep -zv '^include/' | xargs -0 clang-format --dry-run --Werror
