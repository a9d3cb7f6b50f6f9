#!/usr/bin/env python3
"""Checks xfer's curl/curl.h against the system's libcurl, name by name.

1. The headers are what tools/gen-curl-compat.py writes from xfer.h today.
2. Every CURL* name that xfer-curl maps and the system's libcurl also has
   (Debian 12's 7.88 lacks a few newer ones, and they are skipped) has the
   same value in both: one C file prints every such name, built once against
   each header set, and the two outputs must be identical.

Usage: check_constants.py SOURCE_DIR BUILD_DIR (BUILD_DIR holds libxfer.so).
"""
import os
import re
import subprocess
import sys
import tempfile


def main():
    src, build = sys.argv[1], sys.argv[2]
    gen = subprocess.run([sys.executable, os.path.join(src, "tools", "gen-curl-compat.py"),
                          "--check"])
    if gen.returncode != 0:
        return 1
    compat = open(os.path.join(src, "include", "xfer-curl", "curl", "curl.h")).read()
    mapped = re.findall(r"^#define (CURL[A-Z0-9_]+) XFER", compat, re.M)
    flags = subprocess.run(["pkg-config", "--cflags-only-I", "libcurl"], capture_output=True,
                           text=True).stdout.split()
    incdirs = [f[2:] for f in flags] + ["/usr/include", "/usr/include/x86_64-linux-gnu"]
    system = ""
    for d in incdirs:
        cdir = os.path.join(d, "curl")
        if os.path.isdir(cdir):
            for f in os.listdir(cdir):
                if f.endswith(".h"):
                    system += open(os.path.join(cdir, f)).read()
            break
    if not system:
        print("check_constants: the system's curl headers are missing", file=sys.stderr)
        return 1
    # Sentinels (CURL_LAST, CURLOPT_LASTENTRY, ...) count the names of each
    # libcurl version and move when a name is added: not a number to match.
    names = [n for n in mapped if re.search(r"\b%s\b" % n, system)
             and not re.search(r"_LAST(ENTRY)?$", n)]
    if len(names) < 500:
        print("check_constants: only %d names in common" % len(names), file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        c = os.path.join(tmp, "names.c")
        with open(c, "w") as f:
            f.write("#include <stdio.h>\n#include <curl/curl.h>\nint main(void) {\n")
            for n in names:
                f.write('  printf("%%s %%lld\\n", "%s", (long long)(%s));\n' % (n, n))
            f.write("  return 0;\n}\n")
        outs = []
        for flavour, extra in (("curl", ["-lcurl"]),
                               ("xfer", ["-I", os.path.join(src, "include", "xfer-curl"),
                                         "-I", os.path.join(src, "include"),
                                         "-L", build, "-Wl,-rpath," + build, "-lxfer"])):
            exe = os.path.join(tmp, flavour)
            cmd = ["cc", "-w", "-o", exe, c] + (extra if flavour == "xfer" else flags + extra)
            if subprocess.run(cmd).returncode != 0:
                print("check_constants: cannot build against %s" % flavour, file=sys.stderr)
                return 1
            outs.append(subprocess.run([exe], capture_output=True, text=True).stdout)
    if outs[0] != outs[1]:
        a = dict(l.split(" ", 1) for l in outs[0].splitlines())
        b = dict(l.split(" ", 1) for l in outs[1].splitlines())
        for n in names:
            if a.get(n) != b.get(n):
                print("check_constants: %s is %s in libcurl, %s in xfer" % (n, a.get(n), b.get(n)),
                      file=sys.stderr)
        return 1
    print("check_constants: %d of %d mapped names equal libcurl's" % (len(names), len(mapped)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
