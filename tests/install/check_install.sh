#!/usr/bin/env bash
# Installs the build into a temporary prefix, as a user would with
# `cmake --install build --prefix DIR`, and checks what the install serves:
#  1. bin/xfer-load runs from there with no LD_LIBRARY_PATH (its RPATH is
#     relative to the program), against its built-in server;
#  2. every program of tests/compat/ builds the way a libcurl user would,
#     with nothing but `cc prog.c $(pkg-config --cflags --libs xfer-curl)`
#     (plus libuv's flags for the one that uses libuv), and one of them runs.
# Usage: check_install.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
src=$1 build=$2
prefix=$(mktemp -d /tmp/xfer-install.XXXXXX)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" > "$prefix/install.log"

# 1. The load tool, from an arbitrary prefix, with the loader's default path.
unset LD_LIBRARY_PATH
out=$("$prefix/bin/xfer-load" -c 2 -n 50 2>&1) ||
  { echo "check_install: installed xfer-load failed:" >&2; echo "$out" >&2; exit 1; }
grep -q "requests *50 " <<< "$out" ||
  { echo "check_install: xfer-load did not report 50 requests:" >&2; echo "$out" >&2; exit 1; }
pc=$(dirname "$(find "$prefix" -name xfer-curl.pc | head -n1)")
[ -n "$pc" ] || { echo "check_install: xfer-curl.pc was not installed" >&2; exit 1; }
export PKG_CONFIG_PATH=$pc
libdir=$(pkg-config --variable=libdir xfer)
n=0
for prog in "$src"/tests/compat/*.c; do
  name=$(basename "$prog" .c)
  extra=()
  [ "$name" = multi_uv ] && read -r -a extra <<< "$(pkg-config --cflags --libs libuv)"
  # shellcheck disable=SC2046
  cc -Wall -Wextra -Werror -o "$prefix/$name" "$prog" $(pkg-config --cflags --libs xfer-curl) \
    "${extra[@]}" -Wl,-rpath,"$libdir"
  n=$((n + 1))
done
# Wrong arguments: the program's own usage exit (2), which proves it loads
# and links against the installed library.
set +e
"$prefix/easy_loop"
rc=$?
set -e
[ "$rc" = 2 ] || { echo "check_install: easy_loop exited $rc, wanted 2" >&2; exit 1; }
echo "check_install: xfer-load ran and $n programs built with pkg-config xfer-curl from $prefix"
