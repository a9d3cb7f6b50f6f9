#!/usr/bin/env bash
# Installs the build into a temporary prefix and builds every program of
# tests/compat/ the way a libcurl user would, with nothing but
#   cc prog.c $(pkg-config --cflags --libs xfer-curl)
# (plus libuv's flags for the one that uses libuv), then runs one of them:
# the installed headers, the pkg-config module and the library work from any
# prefix. Usage: check_install.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
src=$1 build=$2
prefix=$(mktemp -d /tmp/xfer-compat-install.XXXXXX)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" > "$prefix/install.log"
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
echo "check_install: $n programs built with pkg-config xfer-curl from $prefix"
